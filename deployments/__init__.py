"""What `prefect deploy` needs beyond prefect.yaml: automations as code (alerting)."""
