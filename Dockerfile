# One image for every process of docker-compose.yml (web, worker, beat, migrate).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# Static files (admin, Swagger UI, ReDoc) in the image; WhiteNoise serves them.
RUN python manage.py collectstatic --noinput
RUN useradd --create-home merp && chown merp /app
USER merp

EXPOSE 8000
CMD ["gunicorn", "merp.wsgi", "--bind", "0.0.0.0:8000"]
