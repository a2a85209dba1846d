"""URLs of the example project."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("notes.urls")),
]

# Development only (both helpers return nothing unless DEBUG): static files from the app
# finders (the admin's CSS and JS) and uploaded media. In production run `collectstatic`
# and let duoserve (--static /static=staticfiles) or nginx serve STATIC_ROOT.
urlpatterns += staticfiles_urlpatterns()
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
