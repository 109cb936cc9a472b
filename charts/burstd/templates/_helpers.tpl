{{/* The chart's name. */}}
{{- define "burstd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: resource names. */}}
{{- define "burstd.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the pods. */}}
{{- define "burstd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "burstd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "burstd.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "burstd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: burstd
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The ServiceAccount burstd runs as. */}}
{{- define "burstd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "burstd.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* true when burstd uses the pod's own credentials for one of its API servers. */}}
{{- define "burstd.inCluster" -}}
{{- if or .Values.settings.karmada.inCluster .Values.settings.management.inCluster -}}true{{- end -}}
{{- end -}}

{{/* The ConfigMap holding the policy files. */}}
{{- define "burstd.policiesConfigMap" -}}
{{- default (printf "%s-policies" (include "burstd.fullname" .)) .Values.policies.existingConfigMap -}}
{{- end -}}

{{/* The Karmada-side rules: deploy/rbac-karmada.yaml. */}}
{{- define "burstd.karmadaRules" -}}
- apiGroups: ["cluster.karmada.io"]
  resources: ["clusters"]
  verbs: ["list", "watch"]
- apiGroups: ["autoscaling.karmada.io"]
  resources: ["federatedhpas"]
  verbs: ["list", "watch"]
- apiGroups: ["work.karmada.io"]
  resources: ["resourcebindings"]
  verbs: ["list", "watch"]
- apiGroups: ["policy.karmada.io"]
  resources: ["propagationpolicies"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["apps.karmada.io"]
  resources: ["workloadrebalancers"]
  verbs: ["create", "get"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/* The management-cluster rules outside burstd's namespace: deploy/rbac-management.yaml's ClusterRole. */}}
{{- define "burstd.managementRules" -}}
- apiGroups: ["cluster.x-k8s.io"]
  resources: ["machinedeployments", "machinepools"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["cluster.x-k8s.io"]
  resources: ["machinedeployments/scale", "machinepools/scale"]
  verbs: ["get", "patch"]
- apiGroups: ["cluster.x-k8s.io"]
  resources: ["machines"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/* The management-cluster rules in burstd's namespace: deploy/rbac-management.yaml's Role. */}}
{{- define "burstd.namespaceRules" -}}
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "create", "update"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
{{- end -}}

{{/* Seconds as a settings duration. */}}
{{- define "burstd.seconds" -}}
{{- printf "%vs" . -}}
{{- end -}}
