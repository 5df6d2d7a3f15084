"""The hand-written baseline of ``python -m bench http``.

What a competent team writes in an afternoon without M-ERP: a Django app with a
DRF ``ModelViewSet`` over a ``Partner`` table scoped by the token user's
membership of the company in ``X-Company-ID``, custom fields in a JSONB column
with an expression index per filtered key, django-simple-history on the model
and an outbox row written in the same transaction as each write. Its own
settings (``bench.handwritten.settings``) and database
(``BENCH_HANDWRITTEN_DATABASE_URL``); served by gunicorn
(``bench.handwritten.wsgi``) beside M-ERP's.
"""
