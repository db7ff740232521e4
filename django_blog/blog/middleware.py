"""Middleware of the blog: the request-target limit."""

from django.http import JsonResponse

MAX_TARGET_BYTES = 4000  # below gunicorn's 4094-byte request line, so that the three apps answer alike


class RequestTargetLimitMiddleware:
    """414 for a request target (path and query string, as sent) over MAX_TARGET_BYTES."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        target = request.META.get("RAW_URI") or request.get_full_path()
        if len(target.encode("latin-1", errors="replace")) > MAX_TARGET_BYTES:
            return JsonResponse({"detail": "The URL is too long"}, status=414)
        return self.get_response(request)
