#!/bin/sh
# First build step of prefect.yaml (and `make deploy`): refuse to deploy while a per-account
# value is missing, naming it, instead of registering deployments with empty ARNs.
# The values come from one file, deployments/values/<env>.env (see example.env).
missing=""
for name in \
  PULSEWATCH_ECS_IMAGE_REPOSITORY \
  PULSEWATCH_ECS_CLUSTER \
  PULSEWATCH_ECS_TASK_ROLE_ARN \
  PULSEWATCH_ECS_EXECUTION_ROLE_ARN \
  PULSEWATCH_ECS_VPC_ID \
  PULSEWATCH_ECS_PRIVATE_SUBNET_1 \
  PULSEWATCH_ECS_PRIVATE_SUBNET_2 \
  PULSEWATCH_ECS_SECURITY_GROUP \
  PULSEWATCH_ECS_LOG_GROUP \
  PULSEWATCH_ECS_WAREHOUSE_URL_SECRET_ARN \
  PULSEWATCH_ECS_SCHEMA \
  PULSEWATCH_ECS_MODEL_STORE \
  PULSEWATCH_ECS_S3_STAGING \
  PULSEWATCH_ECS_REDSHIFT_IAM_ROLE
do
  eval "value=\${$name:-}"
  [ -n "$value" ] || missing="$missing $name"
done
# May be empty (a self-hosted server without authentication), but must be set on purpose.
[ "${PULSEWATCH_ECS_PREFECT_API_KEY_SECRET_ARN+set}" = set ] \
  || missing="$missing PULSEWATCH_ECS_PREFECT_API_KEY_SECRET_ARN"
if [ -n "$missing" ]; then
  echo "pulsewatch deploy: missing values:$missing" >&2
  echo "  load them first: set -a; . deployments/values/<env>.env; set +a (see deployments/values/example.env)" >&2
  exit 2
fi
case "${PULSEWATCH_ECS_IMAGE_REPOSITORY##*/}" in
  *:*) echo "pulsewatch deploy: PULSEWATCH_ECS_IMAGE_REPOSITORY must not carry a tag (the git commit is the tag)" >&2; exit 2 ;;
esac
echo "pulsewatch deploy: values complete"
