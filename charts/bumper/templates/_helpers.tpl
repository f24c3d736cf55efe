{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "bumper.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified name: release-chart unless the release name already holds the chart name.
42 characters leave room for the "-worker"/"-redis" suffixes within a Service name's 63. */}}
{{- define "bumper.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 42 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 42 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 42 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "bumper.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "bumper.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "web"). */}}
{{- define "bumper.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bumper.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "bumper.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bumper.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* An image reference: (dict "root" $ "image" .Values.web.image). */}}
{{- define "bumper.image" -}}
{{- $registry := .root.Values.global.imageRegistry | default .root.Values.image.registry -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "bumper.configMapName" -}}
{{- .Values.config.existingConfigMap | default (include "bumper.fullname" .) -}}
{{- end -}}

{{/* Redis: the bundled instance's Service, or externalRedis.url. */}}
{{- define "bumper.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://%s-redis:6379/0" (include "bumper.fullname" .) -}}
{{- else -}}
{{- required "externalRedis.url is required when redis.enabled is false" .Values.externalRedis.url -}}
{{- end -}}
{{- end -}}

{{/* The Secret and key holding the Redis password ("" when external Redis has none). */}}
{{- define "bumper.redisSecretName" -}}
{{- if .Values.redis.enabled -}}
{{- .Values.redis.auth.existingSecret | default (printf "%s-redis" (include "bumper.fullname" .)) -}}
{{- else -}}
{{- .Values.externalRedis.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "bumper.redisPasswordKey" -}}
{{- if .Values.redis.enabled -}}
{{- .Values.redis.auth.passwordKey -}}
{{- else -}}
{{- .Values.externalRedis.passwordKey -}}
{{- end -}}
{{- end -}}

{{/* Environment shared by web and worker (docs/settings.md). */}}
{{- define "bumper.commonEnv" -}}
- name: BUMPER_CONFIG_FILE
  value: /etc/bumper/config/{{ .Values.config.key }}
- name: BUMPER_REDIS_URL
  value: {{ include "bumper.redisUrl" . | quote }}
{{- if include "bumper.redisSecretName" . }}
- name: BUMPER_REDIS_PASSWORD_FILE
  value: /etc/bumper/redis/password
{{- end }}
- name: BUMPER_LOG__FORMAT
  value: json
- name: HOME
  value: /tmp
{{- end -}}

{{/* Volume mounts and volumes shared by web and worker; (dict "root" $ "secrets" list). */}}
{{- define "bumper.commonMounts" -}}
- name: config
  mountPath: /etc/bumper/config
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if include "bumper.redisSecretName" .root }}
- name: redis-password
  mountPath: /etc/bumper/redis
  readOnly: true
{{- end }}
{{- range .secrets }}
- name: secret-{{ .name }}
  mountPath: /etc/bumper/secrets/{{ .name }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "bumper.commonVolumes" -}}
- name: config
  configMap:
    name: {{ include "bumper.configMapName" .root }}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- with include "bumper.redisSecretName" .root }}
- name: redis-password
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: {{ include "bumper.redisPasswordKey" $.root }}
        path: password
{{- end }}
{{- range .secrets }}
- name: secret-{{ .name }}
  secret:
    secretName: {{ .secretName }}
    defaultMode: 0440
{{- end }}
{{- end -}}
