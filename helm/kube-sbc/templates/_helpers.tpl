{{/* Chart name, overridable. */}}
{{- define "kube-sbc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Base name of every resource: "<release>-<chart>", or the release name when it contains the chart name. */}}
{{- define "kube-sbc.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of the bundled Redis StatefulSet, Service and Secret: "<release>-redis" (runtime contract). */}}
{{- define "kube-sbc.redisName" -}}
{{- printf "%s-redis" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "kube-sbc.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "kube-sbc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kube-sbc
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of a component: include with (dict "ctx" $ "component" "operator"). */}}
{{- define "kube-sbc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kube-sbc.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "kube-sbc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kube-sbc.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The kube-sbc image reference. */}}
{{- define "kube-sbc.image" -}}
{{- $repo := printf "%s/%s" .Values.image.registry .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Container securityContext of the restricted Pod Security Standard. */}}
{{- define "kube-sbc.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Redis Secret name and key the operator hands to SBCs that name no Redis ("" when none). */}}
{{- define "kube-sbc.redisSecretName" -}}
{{- if eq .Values.redis.mode "bundled" }}
{{- default (include "kube-sbc.redisName" .) .Values.redis.bundled.auth.existingSecret }}
{{- else if eq .Values.redis.mode "external" }}
{{- .Values.redis.external.existingSecret }}
{{- end }}
{{- end }}
{{- define "kube-sbc.redisSecretKey" -}}
{{- if eq .Values.redis.mode "bundled" }}
{{- .Values.redis.bundled.auth.existingSecretKey }}
{{- else if eq .Values.redis.mode "external" }}
{{- .Values.redis.external.existingSecretKey }}
{{- end }}
{{- end }}
