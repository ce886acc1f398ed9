from django.urls import path

from . import views

app_name = "surveys_api"

urlpatterns = [
    path("surveys/", views.SurveyListApi.as_view(), name="survey-list"),
    path("surveys/<int:survey_id>/", views.SurveyDetailApi.as_view(), name="survey-detail"),
    path("invitations/", views.InvitationListCreateApi.as_view(), name="invitation-list"),
    path("responses/", views.ResponseListApi.as_view(), name="response-list"),
    path("responses/export.csv", views.ResponseExportApi.as_view(), name="response-export"),
]
