"""Django settings for Kinfolk; every knob is a KINFOLK_* environment variable (see config.py)."""

from pathlib import Path

from django.utils.translation import gettext_lazy as _

from kinfolk import config

HOME = config.kinfolk_home()
DEBUG = config.env_flag("KINFOLK_DEBUG", default=False)
SECRET_KEY = config.secret_key(HOME)
ALLOWED_HOSTS = config.env_list("KINFOLK_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = config.env_list("KINFOLK_CSRF_TRUSTED_ORIGINS")

DATABASES = {"default": config.database(HOME)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_countries",
    "django_htmx",
    "csp",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "kinfolk.core",
    "kinfolk.access",
    "kinfolk.people",
    "kinfolk.activities",
    "kinfolk.imports",
    "kinfolk.identity",
    "kinfolk.search",
    "kinfolk.webhooks",
    "kinfolk.web",
    "kinfolk.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "kinfolk.core.middleware.ActorContextMiddleware",
    "kinfolk.web.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "kinfolk.web.middleware.ContentSecurityPolicyMiddleware",  # django-csp's, the policy built once
]

# Background jobs (kinfolk.core.jobs) on Django's Tasks API: a queue in the database by default,
# Redis with RQ workers when KINFOLK_REDIS_URL is set (redis://host:6379/0).
# KINFOLK_JOB_QUEUE names the queue, so that several Kinfolk installations can share one Redis.
REDIS_URL = config.env_text("KINFOLK_REDIS_URL")
KINFOLK_JOB_QUEUE = config.env_text("KINFOLK_JOB_QUEUE", "kinfolk")
if REDIS_URL:
    INSTALLED_APPS.append("django_rq")
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": [KINFOLK_JOB_QUEUE]}}
    # RQ stops a job after DEFAULT_TIMEOUT seconds; a 1M-row import may take longer than its default.
    RQ_QUEUES = {KINFOLK_JOB_QUEUE: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 7 * 24 * 3600}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": [KINFOLK_JOB_QUEUE]}}
# A running job's worker beats every KINFOLK_JOB_HEARTBEAT_SECONDS; silent for
# KINFOLK_JOB_STALE_SECONDS, the job is queued again and resumes from its checkpoint.
KINFOLK_JOB_HEARTBEAT_SECONDS = config.env_number("KINFOLK_JOB_HEARTBEAT_SECONDS", 10)
KINFOLK_JOB_STALE_SECONDS = config.env_number("KINFOLK_JOB_STALE_SECONDS", 60)
# Webhooks go to public addresses only; these hosts (names or IPs) are allowed although internal.
KINFOLK_WEBHOOK_ALLOWED_HOSTS = config.env_list("KINFOLK_WEBHOOK_ALLOWED_HOSTS")

ROOT_URLCONF = "kinfolk.urls"
WSGI_APPLICATION = "kinfolk.wsgi.application"
ASGI_APPLICATION = "kinfolk.asgi.application"
AUTH_USER_MODEL = "access.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600  # also the lifetime of an invitation link

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kinfolk.web.context.ui",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("de", _("German")), ("fr", _("French")), ("es", _("Spanish"))]
TIME_ZONE = "UTC"
USE_I18N = True
# The catalogs (django.po, and the compiled django.mo that Django reads) of every language above but English.
LOCALE_PATHS = [Path(__file__).resolve().parent / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = HOME / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise serves from the finders; it only asks that the folder exists
MEDIA_ROOT = HOME / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = True

# Security headers. HTTPS-only settings follow KINFOLK_HTTPS (on by default outside debug),
# so that `manage.py check --deploy` is clean in production and plain http works locally.
HTTPS = config.env_flag("KINFOLK_HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy: scripts and styles only from Kinfolk's own static files, no inline code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# Outgoing mail (password resets, invitations): KINFOLK_EMAIL_URL, see docs/configuration.md.
globals().update(config.email(DEBUG))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"kinfolk": {"level": "INFO"}},
}

# With REDIS_URL set, the API's rate-limit counters live in Redis under this prefix (else in the database).
KINFOLK_REDIS_PREFIX = config.env_text("KINFOLK_REDIS_PREFIX", "kinfolk:")
# Requests per minute per API token, unless the token sets its own.
KINFOLK_API_RATE_LIMIT = config.env_int("KINFOLK_API_RATE_LIMIT", 600)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "kinfolk.api.auth.BearerTokenAuthentication",
        "kinfolk.api.auth.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["kinfolk.api.auth.TokenScope"],
    "DEFAULT_THROTTLE_CLASSES": ["kinfolk.api.throttling.TokenRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["kinfolk.api.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "kinfolk.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "UNAUTHENTICATED_TOKEN": None,
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kinfolk API",
    "DESCRIPTION": "People, organisations and how they are connected. See docs/api.md.",
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "PhoneKindEnum": "kinfolk.people.models.PhoneNumber.Kind",
        "OrganisationKindEnum": "kinfolk.people.models.Organisation.Kind",
        "ActivityKindEnum": "kinfolk.activities.models.Activity.Kind",
        "EmailStatusEnum": "kinfolk.people.models.EmailAddress.Status",
        "UpsertStatusEnum": ["created", "updated"],
        "BulkItemStatusEnum": ["created", "updated", "error"],
        "DuplicateStatusEnum": "kinfolk.identity.models.DuplicateCandidate.Status",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "kinfolk.api.schema.add_problem_responses",
    ],
}
