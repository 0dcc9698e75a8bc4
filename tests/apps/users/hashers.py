"""A real PBKDF2 hasher with enough iterations that its cost shows in a timing test."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class MeasurablePBKDF2Hasher(PBKDF2PasswordHasher):
    algorithm = "pbkdf2_sha256_measurable"
    iterations = 150_000
