"""Django management commands that duoserve adds."""
