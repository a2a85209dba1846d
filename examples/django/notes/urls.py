from django.urls import path

from . import views

app_name = "notes"

urlpatterns = [
    path("", views.index, name="index"),
    path("notes/new/", views.new_note, name="new"),
    path("notes/<int:pk>/", views.detail, name="detail"),
    path("notes/<int:pk>/download/", views.download, name="download"),
    path("hash/", views.hash_body, name="hash"),
    path("stream/", views.stream, name="stream"),
    path("events/", views.events, name="events"),
    path("events/page/", views.events_page, name="events-page"),
    path("rendezvous/", views.rendezvous, name="rendezvous"),
    path("chat/", views.chat_page, name="chat"),
]
