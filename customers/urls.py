from . import views

app_name = "customers"

urlpatterns = [*views.urlpatterns]
