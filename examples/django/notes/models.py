"""A note with an optional attached file: enough for the admin, a form and downloads."""

from django.db import models


class Note(models.Model):
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    attachment = models.FileField(upload_to="attachments/", blank=True)
    sha256 = models.CharField(max_length=64, blank=True, editable=False)
    size = models.BigIntegerField(default=0, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.title
