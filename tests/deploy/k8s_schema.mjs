// JSON schemas of the Kubernetes objects k8s/*.yaml uses, for ajv and @kubernetes-models/validate.
//
// Why here: @kubernetes-models/validate (tools/node_modules) is the validation runtime of kubernetes-models,
// whose generated per-kind validators live in the `kubernetes-models` package, which is not installed. So
// these schemas transcribe the Kubernetes API reference (v1.30: io.k8s.api.*) for the fields our manifests
// use, with the API's required fields, types, enums and formats (quantity, int-or-string). Unlike the
// API's own OpenAPI schema they refuse every field not listed (additionalProperties: false), so a misspelt
// field (readinessprobe, containerport) is an error instead of being dropped silently by kubectl; a field
// the manifests start to use must be added here. check_deploy.mjs uses the full generated schemas as well
// when `kubernetes-models` is installed.

const str = { type: "string" };
const bool = { type: "boolean" };
const int32 = { type: "integer", minimum: -2147483648, maximum: 2147483647 };
const nonNegative = { type: "integer", minimum: 0, maximum: 2147483647 };
const port = { type: "integer", minimum: 1, maximum: 65535 };
const strings = { type: "array", items: str };
const stringMap = { type: "object", additionalProperties: str };
// IANA_SVC_NAME (a named port): at most 15 lower-case letters, digits and '-', with a letter.
const portName = { type: "string", pattern: "^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$" };
const intOrString = { anyOf: [port, portName] };
const percentOrInt = { anyOf: [nonNegative, { type: "string", pattern: "^[0-9]+%$" }] };
const quantity = { type: "string", format: "quantity" };
// DNS-1123 subdomain (object names) and label (Service names, container names).
const dnsSubdomain = { type: "string", maxLength: 253, pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" };
const dnsLabel = { type: "string", maxLength: 63, pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" };
const envVarName = { type: "string", pattern: "^[-._a-zA-Z][-._a-zA-Z0-9]*$" };

function object(properties, required = []) {
  return { type: "object", properties, required, additionalProperties: false };
}

const labelSelector = object({
  matchLabels: stringMap,
  matchExpressions: {
    type: "array",
    items: object(
      { key: str, operator: { enum: ["In", "NotIn", "Exists", "DoesNotExist"] }, values: strings },
      ["key", "operator"],
    ),
  },
});

const objectMeta = (nameSchema) =>
  object(
    {
      name: nameSchema,
      namespace: dnsLabel,
      labels: stringMap,
      annotations: stringMap,
    },
    ["name"],
  );
const templateMeta = object({ labels: stringMap, annotations: stringMap });

const httpGet = object(
  {
    path: str,
    port: intOrString,
    host: str,
    scheme: { enum: ["HTTP", "HTTPS"] },
    httpHeaders: { type: "array", items: object({ name: str, value: str }, ["name", "value"]) },
  },
  ["port"],
);
const exec = object({ command: strings });
const probe = {
  ...object({
    httpGet,
    grpc: object({ port, service: str }, ["port"]),
    tcpSocket: object({ port: intOrString, host: str }, ["port"]),
    exec,
    initialDelaySeconds: nonNegative,
    periodSeconds: { type: "integer", minimum: 1 },
    timeoutSeconds: { type: "integer", minimum: 1 },
    successThreshold: { type: "integer", minimum: 1 },
    failureThreshold: { type: "integer", minimum: 1 },
    terminationGracePeriodSeconds: { type: "integer", minimum: 1 },
  }),
  // The API server wants exactly one handler.
  oneOf: [{ required: ["httpGet"] }, { required: ["grpc"] }, { required: ["tcpSocket"] }, { required: ["exec"] }],
};
const lifecycleHandler = {
  ...object({ exec, httpGet, sleep: object({ seconds: { type: "integer", minimum: 1 } }, ["seconds"]) }),
  oneOf: [{ required: ["exec"] }, { required: ["httpGet"] }, { required: ["sleep"] }],
};
const seccompProfile = object(
  { type: { enum: ["RuntimeDefault", "Unconfined", "Localhost"] }, localhostProfile: str },
  ["type"],
);
const containerSecurityContext = object({
  allowPrivilegeEscalation: bool,
  privileged: bool,
  readOnlyRootFilesystem: bool,
  runAsNonRoot: bool,
  runAsUser: { type: "integer", minimum: 0 },
  runAsGroup: { type: "integer", minimum: 0 },
  capabilities: object({ add: strings, drop: strings }),
  seccompProfile,
});
const podSecurityContext = object({
  runAsNonRoot: bool,
  runAsUser: { type: "integer", minimum: 0 },
  runAsGroup: { type: "integer", minimum: 0 },
  fsGroup: { type: "integer", minimum: 0 },
  seccompProfile,
});
const keyRef = object({ name: dnsSubdomain, key: { type: "string", pattern: "^[-._a-zA-Z0-9]+$" }, optional: bool }, [
  "key",
]);
const envVar = object(
  {
    name: envVarName,
    value: str,
    valueFrom: {
      ...object({
        secretKeyRef: keyRef,
        configMapKeyRef: keyRef,
        fieldRef: object({ fieldPath: str, apiVersion: str }, ["fieldPath"]),
      }),
      oneOf: [{ required: ["secretKeyRef"] }, { required: ["configMapKeyRef"] }, { required: ["fieldRef"] }],
    },
  },
  ["name"],
);
const envFromSource = object({
  prefix: str,
  configMapRef: object({ name: dnsSubdomain, optional: bool }, ["name"]),
  secretRef: object({ name: dnsSubdomain, optional: bool }, ["name"]),
});
const container = object(
  {
    name: dnsLabel,
    image: { type: "string", minLength: 1 },
    imagePullPolicy: { enum: ["Always", "IfNotPresent", "Never"] },
    command: strings,
    args: strings,
    workingDir: str,
    ports: {
      type: "array",
      items: object(
        { name: portName, containerPort: port, protocol: { enum: ["TCP", "UDP", "SCTP"] } },
        ["containerPort"],
      ),
    },
    env: { type: "array", items: envVar },
    envFrom: { type: "array", items: envFromSource },
    resources: object({
      requests: { type: "object", additionalProperties: quantity },
      limits: { type: "object", additionalProperties: quantity },
    }),
    livenessProbe: probe,
    readinessProbe: probe,
    startupProbe: probe,
    lifecycle: object({ preStop: lifecycleHandler, postStart: lifecycleHandler }),
    securityContext: containerSecurityContext,
    terminationMessagePolicy: { enum: ["File", "FallbackToLogsOnError"] },
  },
  ["name"],
);
const podSpec = object(
  {
    containers: { type: "array", items: container, minItems: 1 },
    initContainers: { type: "array", items: container },
    restartPolicy: { enum: ["Always", "OnFailure", "Never"] },
    terminationGracePeriodSeconds: nonNegative,
    activeDeadlineSeconds: { type: "integer", minimum: 1 },
    securityContext: podSecurityContext,
    serviceAccountName: dnsSubdomain,
    automountServiceAccountToken: bool,
    enableServiceLinks: bool,
    priorityClassName: str,
    nodeSelector: stringMap,
    topologySpreadConstraints: {
      type: "array",
      items: object(
        {
          maxSkew: { type: "integer", minimum: 1 },
          topologyKey: str,
          whenUnsatisfiable: { enum: ["DoNotSchedule", "ScheduleAnyway"] },
          labelSelector,
          minDomains: { type: "integer", minimum: 1 },
        },
        ["maxSkew", "topologyKey", "whenUnsatisfiable"],
      ),
    },
  },
  ["containers"],
);
const podTemplate = object({ metadata: templateMeta, spec: podSpec }, ["spec"]);

const networkPolicyPeer = object({
  podSelector: labelSelector,
  namespaceSelector: labelSelector,
  ipBlock: object({ cidr: { type: "string", format: "cidr" }, except: strings }, ["cidr"]),
});
const networkPolicyPort = object({ protocol: { enum: ["TCP", "UDP", "SCTP"] }, port: intOrString, endPort: port });

function kind(apiVersion, kindName, properties, required = [], nameSchema = dnsSubdomain) {
  return object(
    { apiVersion: { const: apiVersion }, kind: { const: kindName }, metadata: objectMeta(nameSchema), ...properties },
    ["apiVersion", "kind", "metadata", ...required],
  );
}

// By "apiVersion/kind".
export const schemas = {
  "v1/Namespace": kind("v1", "Namespace", {}, [], dnsLabel),
  "v1/ConfigMap": kind("v1", "ConfigMap", {
    data: { type: "object", propertyNames: { pattern: "^[-._a-zA-Z0-9]+$" }, additionalProperties: str },
    immutable: bool,
  }),
  "v1/Secret": kind("v1", "Secret", {
    type: str,
    data: { type: "object", propertyNames: { pattern: "^[-._a-zA-Z0-9]+$" }, additionalProperties: { type: "string", format: "byte" } },
    stringData: { type: "object", propertyNames: { pattern: "^[-._a-zA-Z0-9]+$" }, additionalProperties: str },
    immutable: bool,
  }),
  "v1/Service": kind(
    "v1",
    "Service",
    {
      spec: object({
        type: { enum: ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] },
        clusterIP: str,
        selector: stringMap,
        publishNotReadyAddresses: bool,
        sessionAffinity: { enum: ["None", "ClientIP"] },
        ports: {
          type: "array",
          items: object(
            {
              name: dnsLabel,
              port,
              targetPort: intOrString,
              protocol: { enum: ["TCP", "UDP", "SCTP"] },
              appProtocol: str,
              nodePort: port,
            },
            ["port"],
          ),
        },
      }),
    },
    ["spec"],
    dnsLabel,
  ),
  "apps/v1/Deployment": kind(
    "apps/v1",
    "Deployment",
    {
      spec: object(
        {
          replicas: nonNegative,
          selector: labelSelector,
          template: podTemplate,
          strategy: object({
            type: { enum: ["Recreate", "RollingUpdate"] },
            rollingUpdate: object({ maxUnavailable: percentOrInt, maxSurge: percentOrInt }),
          }),
          minReadySeconds: nonNegative,
          revisionHistoryLimit: nonNegative,
          progressDeadlineSeconds: { type: "integer", minimum: 1 },
        },
        ["selector", "template"],
      ),
    },
    ["spec"],
  ),
  "batch/v1/Job": kind(
    "batch/v1",
    "Job",
    {
      spec: object(
        {
          template: podTemplate,
          backoffLimit: nonNegative,
          activeDeadlineSeconds: { type: "integer", minimum: 1 },
          ttlSecondsAfterFinished: nonNegative,
          completions: nonNegative,
          parallelism: nonNegative,
        },
        ["template"],
      ),
    },
    ["spec"],
  ),
  "policy/v1/PodDisruptionBudget": kind(
    "policy/v1",
    "PodDisruptionBudget",
    {
      spec: object({
        minAvailable: percentOrInt,
        maxUnavailable: percentOrInt,
        selector: labelSelector,
        unhealthyPodEvictionPolicy: { enum: ["IfHealthyBudget", "AlwaysAllow"] },
      }),
    },
    ["spec"],
  ),
  "networking.k8s.io/v1/NetworkPolicy": kind(
    "networking.k8s.io/v1",
    "NetworkPolicy",
    {
      spec: object(
        {
          podSelector: labelSelector,
          policyTypes: { type: "array", items: { enum: ["Ingress", "Egress"] } },
          ingress: {
            type: "array",
            items: object({ from: { type: "array", items: networkPolicyPeer }, ports: { type: "array", items: networkPolicyPort } }),
          },
          egress: {
            type: "array",
            items: object({ to: { type: "array", items: networkPolicyPeer }, ports: { type: "array", items: networkPolicyPort } }),
          },
        },
        ["podSelector"],
      ),
    },
    ["spec"],
  ),
};

// What the API server checks beyond the schema, for the kinds above; returns problems ("" = none).
export function semanticProblems(object) {
  const problems = [];
  const template = object.spec?.template;
  if (object.kind === "Deployment" && template !== undefined) {
    // "selector does not match template labels" is refused at apply time.
    const labels = template.metadata?.labels ?? {};
    if (!selectorMatches(object.spec.selector, labels)) problems.push("spec.selector does not match spec.template.metadata.labels");
    if ((template.spec.restartPolicy ?? "Always") !== "Always") problems.push("a Deployment's restartPolicy must be Always");
  }
  if (object.kind === "Job" && template !== undefined) {
    if (!["OnFailure", "Never"].includes(template.spec.restartPolicy)) {
      problems.push("a Job's spec.template.spec.restartPolicy must be OnFailure or Never");
    }
  }
  for (const c of template?.spec?.containers ?? []) {
    const names = (c.ports ?? []).map((p) => p.name).filter((n) => n !== undefined);
    if (new Set(names).size !== names.length) problems.push(`container ${c.name}: port names repeat`);
    const envNames = (c.env ?? []).map((e) => e.name);
    if (new Set(envNames).size !== envNames.length) problems.push(`container ${c.name}: env names repeat`);
    for (const e of c.env ?? []) {
      if (e.value !== undefined && e.valueFrom !== undefined) problems.push(`container ${c.name}: env ${e.name} has value and valueFrom`);
    }
  }
  if (template !== undefined) {
    const names = template.spec.containers.map((c) => c.name);
    if (new Set(names).size !== names.length) problems.push("container names repeat");
  }
  if (object.kind === "PodDisruptionBudget") {
    const s = object.spec;
    if ((s.minAvailable === undefined) === (s.maxUnavailable === undefined)) {
      problems.push("a PodDisruptionBudget needs exactly one of minAvailable and maxUnavailable");
    }
  }
  if (object.kind === "Service") {
    const ports = object.spec.ports ?? [];
    if (ports.length > 1 && ports.some((p) => p.name === undefined)) problems.push("a Service with several ports must name each");
    if (object.spec.clusterIP === "None" && (object.spec.type ?? "ClusterIP") !== "ClusterIP") {
      problems.push("a headless Service (clusterIP: None) must be of type ClusterIP");
    }
  }
  return problems;
}

// A Kubernetes LabelSelector against a set of labels (an empty selector matches everything).
export function selectorMatches(selector, labels) {
  if (selector === undefined || selector === null) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const values = e.values ?? [];
    if (e.operator === "In" && !(has && values.includes(labels[e.key]))) return false;
    if (e.operator === "NotIn" && has && values.includes(labels[e.key])) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}
