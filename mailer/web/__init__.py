"""The web front ends: reader pages (reader/), the JSON API (api/) and the admin (admin/)."""

from werkzeug.wrappers import Response

# What a page view returns: a rendered template with its status, or a response (a
# redirect, a file). Werkzeug's Response: redirect() returns it, Flask's is a subclass.
ViewResult = tuple[str, int] | Response
