{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "bumper-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified name: release-chart unless the release name already holds the chart name. */}}
{{- define "bumper-agent.fullname" -}}
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

{{/* The agent's instance name (label value of owned objects). */}}
{{- define "bumper-agent.instance" -}}
{{- default (include "bumper-agent.fullname" .) .Values.agent.name -}}
{{- end -}}

{{- define "bumper-agent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "bumper-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "bumper-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bumper-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bumper-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bumper-agent.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Refuse RBAC rules that grant more than kinds by name: any "*", or Secrets without
rbac.allowSecrets (values.schema.json refuses "*" too; this also covers values set with --set). */}}
{{- define "bumper-agent.checkRules" -}}
{{- range $rule := concat .Values.rbac.rules .Values.rbac.clusterRules }}
{{- range $field := list "apiGroups" "resources" "verbs" }}
{{- if has "*" (get $rule $field | default list) }}
{{- fail (printf "rbac: %q in %s grants every kind; list the kinds the agent manages" "*" $field) }}
{{- end }}
{{- end }}
{{- if and (has "" $rule.apiGroups) (has "secrets" $rule.resources) (not $.Values.rbac.allowSecrets) }}
{{- fail "rbac: a rule grants secrets; set rbac.allowSecrets=true if the agent must manage Secrets" }}
{{- end }}
{{- end }}
{{- end -}}

{{/* NetworkPolicy peers of a destination: its cidrs as ipBlocks, then its peers. */}}
{{- define "bumper-agent.peers" -}}
{{- range .cidrs }}
- ipBlock:
    cidr: {{ . }}
{{- end }}
{{- with .peers }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* <registry>/<repository>:<tag>, the names `make images` gives (docs/images.md). */}}
{{- define "bumper-agent.image" -}}
{{- $registry := (.Values.global).imageRegistry | default .Values.image.registry -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}
