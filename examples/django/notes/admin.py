from django.contrib import admin

from .models import Note


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ["title", "size", "created"]
    search_fields = ["title", "body"]
    readonly_fields = ["sha256", "size"]
