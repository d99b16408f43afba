FROM python:3.11-slim
WORKDIR /app
# Pango and a font: WeasyPrint draws the dashboard's PDF reports with them
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY core core
COPY gateway gateway
COPY dispatch dispatch
COPY complaints complaints
COPY dashboard dashboard
COPY firmware_sim firmware_sim
COPY siaga siaga
COPY bench bench
RUN pip install --no-cache-dir .
USER nobody
EXPOSE 8080 5055 5023
CMD ["siaga", "run", "--role", "all"]
