"""The survey builder, mounted at /surveys/builder/ (admins only)."""

from django.urls import path

from . import views

app_name = "survey_builder"

urlpatterns = [
    path("", views.survey_list, name="list"),
    path("new/", views.survey_new, name="survey_new"),
    path("<int:pk>/", views.survey_edit, name="survey"),
    path("<int:pk>/questions/new/", views.question_new, name="question_new"),
    path("<int:pk>/questions/<int:question_id>/", views.question_edit, name="question_edit"),
    path("<int:pk>/questions/<int:question_id>/move/", views.question_move, name="question_move"),
    path(
        "<int:pk>/questions/<int:question_id>/delete/",
        views.question_delete,
        name="question_delete",
    ),
    path("<int:pk>/preview/<str:language>/email/", views.preview_email, name="preview_email"),
    path("<int:pk>/preview/<str:language>/page/", views.preview_page, name="preview_page"),
    path("<int:pk>/test/", views.send_test, name="send_test"),
    path("<int:pk>/run/", views.campaign_run, name="campaign_run"),
]
