#!/usr/bin/env node
// The deployment check (ctest deploy_check, part of `make test`): Dockerfile, fly/*.toml and k8s/*.yaml
// against each other and against what the binaries read and serve. docs/deployment.md, "How make test
// checks these files", says the same for readers.
//
//   PROTECTOGRAM_BIN_DIR=build/bin node tests/deploy/check_deploy.mjs
//
// What it proves, for each process deployed (each Fly app and its release command, each Kubernetes
// Deployment and the migration Job):
//   - its environment as deployed (the image's ENV, then Fly's [env] plus the secrets its file's header
//     lists, or the container's envFrom and env from the ConfigMap and the Secret) is complete: the real
//     binary, run with exactly that environment (placeholders for the secrets, nothing else but PATH) and
//     --check-config, says "config ok" under APP_ENV=prod;
//   - every *_ADDR it reads (taken from its config loader's source) is set, and names a Fly app / a Service
//     that runs the process serving it, on that process's gRPC port;
//   - its container ports, probes, Service ports, Fly internal_port, checks and metrics are the ports the
//     binary listens on given that environment (the defaults come from `<binary> --help`);
//   - its command is a binary that the Dockerfile builds (--target) and copies into the runtime image.
// And: every k8s object is valid against k8s_schema.mjs and kubernetes-models' schemas; the
// NetworkPolicies let exactly the intended traffic in; each Deployment has replicas >= 2, resources, a
// PodDisruptionBudget and runs as non-root; the Dockerfile's runtime packages exist in Debian (apt-cache,
// when there is one) and provide every shared library the binaries load (objdump/ldd/dpkg, when there).
// Every mismatch is one line on stdout; exit 1 if there is any, else 0.
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";

import { schemas, selectorMatches, semanticProblems } from "./k8s_schema.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCE = resolve(process.env.PROTECTOGRAM_SOURCE_DIR ?? join(HERE, "..", ".."));
const BIN = resolve(process.env.PROTECTOGRAM_BIN_DIR ?? join(SOURCE, "build", "bin"));
const NODE_MODULES = join(SOURCE, "tools", "node_modules");

const problems = [];
const notes = [];
const problem = (where, message) => problems.push(`${where}: ${message}`);
const rel = (path) => path.replace(SOURCE + "/", "");

// The processes, by binary. `config` is the process's own config loader: the *_ADDR variables it reads are
// read from it, so that a new one is checked without editing this table. `role` is its Postgres role
// (db/migrations/0001_*, README "Migrations"). Ports come from `<binary> --help` (libs/kernel/config.cc).
const PROCESSES = {
  "protectogram-edge": { name: "edge", config: ["edge/config.cc"], role: "protectogram_edge" },
  "protectogram-incident": { name: "incident", config: ["services/incident/config.cc"], role: "protectogram_incident" },
  "protectogram-notification": {
    name: "notification",
    config: ["services/notification/config.cc"],
    role: "protectogram_notification",
  },
  "protectogram-telephony": { name: "telephony", config: ["services/telephony/config.cc"], role: "protectogram_telephony" },
  "protectogram-migrate": { name: "migrate", config: [], role: null, migrator: true },
};
// Built and shipped, though no manifest runs it (the provider simulators, for staging and demos).
const SHIPPED_NOT_DEPLOYED = ["protectogram-sim"];
// X_ADDR is served by protectogram-x (INCIDENT_ADDR: the incident service's gRPC port).
const addrServer = (variable) => `protectogram-${variable.replace(/_ADDR$/, "").toLowerCase()}`;
// Packages of debian:bookworm-slim itself (priority required), which the runtime stage need not install.
const BASE_PACKAGES = new Set(["libc6", "libgcc-s1", "libstdc++6", "libcrypt1", "zlib1g"]);
// The label that lets a namespace's pods scrape the services' metrics ports (k8s/networkpolicy.yaml).
const MONITORING_LABEL = ["protectogram.io/scrape-metrics", "true"];

// --- node_modules ----------------------------------------------------------------------------------------

// tools/node_modules is not on this script's resolution path: import a package there by its entry file.
async function importTool(name) {
  const dir = join(NODE_MODULES, name);
  if (!existsSync(join(dir, "package.json"))) {
    throw new Error(`${rel(dir)} is missing: run scripts/install-deps.sh (npm install in tools/)`);
  }
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const pick = (e) => (typeof e === "string" ? e : e && (pick(e.import) ?? pick(e.node) ?? pick(e.default)));
  let entry;
  if (pkg.exports !== undefined) {
    const root = typeof pkg.exports === "string" || !Object.keys(pkg.exports).some((k) => k.startsWith("."))
      ? pkg.exports
      : pkg.exports["."];
    entry = pick(root);
  }
  entry ??= pkg.module ?? pkg.main ?? "index.js";
  return import(pathToFileURL(join(dir, entry)).href);
}

const TOML = await importTool("smol-toml");
const { formats, runValidateFunc } = await importTool("@kubernetes-models/validate");
const ajvModule = await importTool("ajv");
const Ajv = ajvModule.default?.default ?? ajvModule.default;
const YAML = await importTool("yaml");
if (!existsSync(join(NODE_MODULES, "kubernetes-models", "package.json"))) {
  throw new Error("tools/node_modules/kubernetes-models is missing: run scripts/install-deps.sh (npm install in tools/)");
}

// --- running things ----------------------------------------------------------------------------------------

const WORK = mkdtempSync(join(tmpdir(), "deploy-check-"));
process.on("exit", () => rmSync(WORK, { recursive: true, force: true }));

function which(tool) {
  return (process.env.PATH ?? "").split(":").some((d) => d !== "" && existsSync(join(d, tool)));
}

function runTool(tool, args) {
  return spawnSync(tool, args, { encoding: "utf8", timeout: 30000 });
}

// The binary with exactly `env` (and PATH), from an empty directory: nothing of this process's environment
// and no file next to the source (db/migrate.conf) can make a check pass.
function runBinary(binary, args, env) {
  return spawnSync(join(BIN, binary), args, {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    cwd: WORK,
    encoding: "utf8",
    timeout: 30000,
  });
}

const oneLine = (text) => text.trim().split("\n").filter(Boolean).slice(0, 3).join(" | ");

// --- the binaries ----------------------------------------------------------------------------------------

// {GRPC_PORT: 50051, METRICS_PORT: 9101} from "Ports (defaults): ..." of --help, by binary (kernel hosts only).
const defaultPorts = {};
const binaryOk = {};
for (const binary of [...Object.keys(PROCESSES), ...SHIPPED_NOT_DEPLOYED]) {
  const path = join(BIN, binary);
  binaryOk[binary] = existsSync(path);
  if (!binaryOk[binary]) {
    if (SHIPPED_NOT_DEPLOYED.includes(binary)) notes.push(`${binary} is not built in ${BIN}: its libraries are not checked`);
    else problem(rel(path), `missing: build it first (cmake --build <dir> --target ${binary})`);
    continue;
  }
  if (PROCESSES[binary]?.migrator || SHIPPED_NOT_DEPLOYED.includes(binary)) continue;
  const help = runBinary(binary, ["--help"], {});
  const line = /^Ports \(defaults\):(.*)$/m.exec(help.stdout ?? "");
  if (help.status !== 0 || line === null) {
    problem(binary, `--help did not list "Ports (defaults): ..." (exit ${help.status}): ${oneLine(help.stdout + help.stderr)}`);
    continue;
  }
  defaultPorts[binary] = Object.fromEntries([...line[1].matchAll(/([A-Z_]+)=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
  if (!/--check-config/.test(help.stdout)) problem(binary, "--help does not mention --check-config");
}

// --check-config must be able to fail, or every "config ok" below would prove nothing: in prod with
// nothing set, each binary must refuse with the line a real start prints.
for (const binary of Object.keys(PROCESSES)) {
  if (!binaryOk[binary]) continue;
  const migrator = PROCESSES[binary].migrator;
  const r = runBinary(binary, migrator ? ["up", "--check-config"] : ["--check-config"], { APP_ENV: "prod" });
  const expected = migrator ? /^protectogram-migrate: no database URL/m : /^config error: .*DATABASE_URL is required/m;
  if (r.status !== 2 || !expected.test(r.stderr) || r.stdout.includes("config ok")) {
    problem(binary, `--check-config with an empty prod environment should exit 2 with ${expected}, got exit ${r.status}: ${oneLine(r.stdout + r.stderr)}`);
  }
}

// The *_ADDR variables a process reads, from its config loader's source.
function addrVariables(binary) {
  const out = new Set();
  for (const file of PROCESSES[binary].config) {
    const path = join(SOURCE, file);
    if (!existsSync(path)) {
      problem(file, `missing (tests/deploy/check_deploy.mjs reads ${binary}'s *_ADDR variables from it)`);
      continue;
    }
    for (const m of readFileSync(path, "utf8").matchAll(/"([A-Z]+_ADDR)"/g)) out.add(m[1]);
  }
  return [...out].sort();
}

// The ports `binary` listens on with `env`: {grpc, metrics, http}; metrics is the HTTP port for the edge.
function listeningPorts(binary, env) {
  const defaults = defaultPorts[binary];
  if (defaults === undefined) return null;
  const pick = (name) => (name in defaults ? Number(env[name] ?? defaults[name]) : undefined);
  const ports = { grpc: pick("GRPC_PORT"), http: pick("HTTP_PORT"), metrics: pick("METRICS_PORT") };
  ports.metrics ??= ports.http;
  return ports;
}

// --- placeholders for secrets ----------------------------------------------------------------------------

const TELNYX_KEY = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x.replace(/-/g, "+").replace(/_/g, "/") + "=";

// A value of the right shape for secret `name`; `role` for database URLs.
function placeholder(name, role) {
  if (/DATABASE(_DIRECT)?_URL/.test(name)) return `postgresql://${role ?? "protectogram_owner"}:placeholder@postgres.invalid:5432/protectogram`;
  if (name === "TELNYX_PUBLIC_KEY") return TELNYX_KEY;
  if (/_FROM_NUMBER$/.test(name)) return "+15550100000";
  if (name === "TWILIO_ACCOUNT_SID") return `AC${"0".repeat(32)}`;
  if (/_URL$/.test(name)) return "https://placeholder.invalid";
  // A-Z a-z 0-9 _ only (a Telegram webhook secret's alphabet), and longer than any minimum (SECRET_KEY: 32).
  return `placeholder_${name.toLowerCase()}_0123456789abcdef0123456789abcdef`;
}

// The role in a postgresql:// URL.
const urlRole = (url) => /^[a-z+]+:\/\/([^:@/]+)[:@]/.exec(url ?? "")?.[1];

// --- the Dockerfile --------------------------------------------------------------------------------------

function parseDockerfile(text) {
  const instructions = [];
  let current = "";
  for (const raw of text.split("\n")) {
    if (/^\s*#/.test(raw)) continue;  // comments, also inside a continued instruction
    const line = raw.replace(/\s+$/, "");
    if (line.endsWith("\\")) {
      current += line.slice(0, -1) + " ";
      continue;
    }
    current += line;
    if (current.trim() !== "") instructions.push(current.trim().replace(/\s+/g, " "));
    current = "";
  }
  const stages = [];
  for (const instruction of instructions) {
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(instruction);
    if (op.toUpperCase() === "FROM") {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ image: m[1], name: m[2] ?? String(stages.length), ops: [] });
    } else if (stages.length > 0) {
      stages.at(-1).ops.push({ op: op.toUpperCase(), args });
    }
  }
  return stages;
}

// KEY=value pairs of an ENV instruction (or the old "ENV KEY value").
function parseEnv(args) {
  const out = {};
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(args)) {
    const [key, ...rest] = args.split(" ");
    out[key] = rest.join(" ");
    return out;
  }
  for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|'([^']*)'|(\S*))/g)) out[m[1]] = m[3] ?? m[4] ?? m[5];
  return out;
}

const dockerfilePath = join(SOURCE, "Dockerfile");
const image = { built: new Set(), copied: new Set(), env: {}, packages: [], user: null, migrations: null };
{
  const stages = parseDockerfile(readFileSync(dockerfilePath, "utf8"));
  const where = "Dockerfile";
  const runtime = stages.at(-1);
  const build = stages.find((s) => s.name === "build");
  if (build === undefined || stages.length < 2) problem(where, 'needs a stage "AS build" and a runtime stage after it');
  if (build !== undefined && !/^debian:bookworm(@|$)/.test(build.image)) problem(where, `the build stage is ${build.image}, not debian:bookworm`);
  if (runtime !== undefined && !/^debian:bookworm-slim(@|$)/.test(runtime.image)) {
    problem(where, `the runtime stage is ${runtime?.image}, not debian:bookworm-slim`);
  }
  for (const { op, args } of build?.ops ?? []) {
    if (op !== "RUN") continue;
    for (const m of args.matchAll(/cmake --build \S+ --target ((?:[\w.-]+ ?)+)/g)) {
      for (const target of m[1].trim().split(" ")) image.built.add(target);
    }
  }
  if (!(build?.ops ?? []).some(({ op, args }) => op === "RUN" && /scripts\/install-deps\.sh/.test(args))) {
    problem(where, "the build stage does not run scripts/install-deps.sh");
  }
  for (const { op, args } of runtime?.ops ?? []) {
    if (op === "COPY") {
      const parts = args.split(" ");
      const from = parts.find((p) => p.startsWith("--from="))?.slice("--from=".length);
      const paths = parts.filter((p) => !p.startsWith("--"));
      const dest = paths.pop();
      for (const src of paths) {
        if (from === "build" && /^\/usr\/(local\/)?bin\/?$/.test(dest)) image.copied.add(basename(src));
        if (from === undefined && src.replace(/\/$/, "") === "db/migrations") image.migrations = dest.replace(/\/$/, "");
      }
    } else if (op === "ENV") {
      Object.assign(image.env, parseEnv(args));
    } else if (op === "USER") {
      image.user = args;
    } else if (op === "RUN") {
      const install = /apt-get install ([^&;]*)/.exec(args);
      if (install) image.packages.push(...install[1].split(" ").filter((t) => t !== "" && !t.startsWith("-")));
    }
  }
  for (const binary of image.copied) {
    if (!image.built.has(binary)) problem(where, `copies ${binary} into the image but does not build it (--target)`);
  }
  for (const binary of [...Object.keys(PROCESSES), ...SHIPPED_NOT_DEPLOYED]) {
    if (!image.built.has(binary)) problem(where, `does not build ${binary} (cmake --build ... --target)`);
    if (!image.copied.has(binary)) problem(where, `does not copy ${binary} into the runtime image (COPY --from=build ... /usr/local/bin/)`);
  }
  if (image.user === null || !/^[1-9][0-9]*(:[0-9]+)?$/.test(image.user)) {
    problem(where, `USER must be a numeric non-root uid (Kubernetes' runAsNonRoot checks it), got ${image.user}`);
  }
  if (image.migrations === null) problem(where, "does not COPY db/migrations into the runtime image");
  else if (image.env.MIGRATIONS_DIR !== image.migrations) {
    problem(where, `ENV MIGRATIONS_DIR is ${image.env.MIGRATIONS_DIR}, but db/migrations is copied to ${image.migrations}`);
  }
  for (const pkg of image.packages) {
    if (/-dev$/.test(pkg)) problem(where, `the runtime stage installs a development package: ${pkg}`);
  }
  checkRuntimePackages(where);

  const ignore = existsSync(join(SOURCE, ".dockerignore")) ? readFileSync(join(SOURCE, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()) : [];
  for (const wanted of ["build*/", "var/", "tools/node_modules/", ".git/"]) {
    if (!ignore.includes(wanted) && !ignore.includes(wanted.replace(/\/$/, ""))) problem(".dockerignore", `does not exclude ${wanted}`);
  }
}

// The runtime stage's packages exist in Debian, and provide every library the binaries load.
function checkRuntimePackages(where) {
  if (which("apt-cache")) {
    // One call for all (each takes most of a second); an apt without package lists (no apt-get update yet)
    // knows nothing, not even libc6: then skip rather than fail.
    const shown = runTool("apt-cache", ["show", "--no-all-versions", "libc6", ...image.packages]);
    const known = new Set([...(shown.stdout ?? "").matchAll(/^Package: (\S+)$/gm)].map((m) => m[1]));
    if (!known.has("libc6")) {
      notes.push("apt-cache has no package lists (apt-get update): the runtime packages' existence is not checked");
    } else {
      for (const pkg of image.packages) {
        if (!known.has(pkg)) {
          problem(where, `the runtime stage installs ${pkg}, which apt-cache does not know (not a Debian bookworm package?)`);
        }
      }
    }
  } else {
    notes.push("no apt-cache: the runtime packages' existence is not checked");
  }
  if (!which("objdump") || !which("ldd") || !which("dpkg")) {
    notes.push("no objdump/ldd/dpkg: the binaries' libraries are not mapped to the runtime packages");
    return;
  }
  const installed = new Set([...image.packages, ...BASE_PACKAGES]);
  const owner = {};
  const ownerOf = (path) => {
    if (path in owner) return owner[path];
    const candidates = new Set([path]);
    try {
      candidates.add(realpathSync(path));
    } catch {}
    for (const c of [...candidates]) {
      candidates.add(c.replace(/^\/usr\/lib\//, "/lib/"));
      candidates.add(c.replace(/^\/lib\//, "/usr/lib/"));
    }
    for (const c of candidates) {
      const r = runTool("dpkg", ["-S", c]);
      if (r.status === 0) return (owner[path] = r.stdout.split(":")[0].trim());
    }
    return (owner[path] = null);
  };
  for (const binary of image.copied) {
    const path = join(BIN, binary);
    if (!existsSync(path)) continue;
    const needed = [...runTool("objdump", ["-p", path]).stdout.matchAll(/^\s*NEEDED\s+(\S+)/gm)].map((m) => m[1]);
    const resolved = Object.fromEntries(
      [...runTool("ldd", [path]).stdout.matchAll(/^\s*(\S+) => (\S+)/gm)].map((m) => [m[1], m[2]]),
    );
    for (const soname of needed) {
      const file = resolved[soname];
      if (file === undefined || file === "not") {
        problem(binary, `needs ${soname}, which ldd cannot find`);
        continue;
      }
      const pkg = ownerOf(file);
      if (pkg === null) problem(binary, `loads ${file}, which no Debian package provides (the image has only Debian's)`);
      else if (!installed.has(pkg)) problem(where, `${binary} loads ${soname} from ${pkg}, which the runtime stage does not install`);
    }
  }
}

// --- the environment a process gets, and --check-config ----------------------------------------------------

// The image's ENV under the deployment's; the migrations directory as copied, since the check runs here.
function withImage(env) {
  const out = { ...image.env, ...env };
  if (image.migrations !== null && out.MIGRATIONS_DIR === image.migrations) out.MIGRATIONS_DIR = join(SOURCE, "db", "migrations");
  return out;
}

let checkRuns = 0;
// Runs `command --check-config` with `env` (the full environment as deployed); reports what is wrong.
function checkConfig(where, command, env) {
  const [binary, ...args] = command;
  if (!binaryOk[binary]) return;
  if ((env.APP_ENV ?? "dev") !== "prod") problem(where, `APP_ENV is ${env.APP_ENV ?? "unset (dev)"} as deployed, not prod`);
  if (PROCESSES[binary]?.migrator) {
    // The first migration creates roles: the migrator needs the owner, not a service's own role (which would
    // pass --check-config and fail at the first deploy).
    const url = env.MIGRATIONS_DATABASE_URL ?? env.DATABASE_URL;
    const role = urlRole(url);
    if (url !== undefined && Object.values(PROCESSES).some((p) => p.role === role)) {
      problem(where, `${binary} would migrate as ${role}, a service's role (no CREATEROLE): give it MIGRATIONS_DATABASE_URL`);
    }
  }
  checkRuns++;
  const r = runBinary(binary, [...args, "--check-config"], env);
  if (r.status !== 0 || r.stdout !== "config ok\n") {
    problem(where, `${command.join(" ")} --check-config with the deployed environment: exit ${r.status}: ${oneLine(r.stderr + r.stdout) || "(no output)"}`);
  }
}

// host:port of an *_ADDR (a gRPC target: "host:port" or "dns:///host:port"), or null.
function parseTarget(value) {
  const m = /^(?:dns:\/\/[^/]*\/)?(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(value ?? "");
  return m ? { host: m[1], port: Number(m[2]) } : null;
}

// --- Fly -------------------------------------------------------------------------------------------------

const flyDir = join(SOURCE, "fly");
const flyApps = {};  // app name -> {file, binary, env, ports}
const flyFiles = existsSync(flyDir) ? readdirSync(flyDir).filter((f) => f.endsWith(".toml")).sort() : [];
if (flyFiles.length === 0) problem("fly/", "no *.toml");

// "#   NAME  meaning" lines of the header comment after its "Secrets" line: name -> meaning.
function flySecrets(text) {
  const secrets = {};
  let inList = false;
  for (const line of text.split("\n")) {
    if (!line.startsWith("#")) break;
    if (/^#\s*Secrets\b/.test(line)) {
      inList = true;
      continue;
    }
    const m = /^# {3}([A-Z][A-Z0-9_]*)\s+(.*)$/.exec(line);
    if (inList && m) secrets[m[1]] = m[2];
    else if (inList && Object.keys(secrets).length > 0) inList = false;
  }
  return secrets;
}

for (const file of flyFiles) {
  const where = `fly/${file}`;
  const text = readFileSync(join(flyDir, file), "utf8");
  let config;
  try {
    config = TOML.parse(text);
  } catch (e) {
    problem(where, `not valid TOML: ${e.message.split("\n")[0]}`);
    continue;
  }
  const groups = Object.entries(config.processes ?? {});
  if (groups.length !== 1) {
    problem(where, "needs exactly one [processes] entry (one Fly app per process)");
    continue;
  }
  const command = String(groups[0][1]).trim().split(/\s+/);
  const binary = command[0];
  const process_ = PROCESSES[binary];
  if (process_ === undefined || process_.migrator) {
    problem(where, `runs ${binary}, which is not one of ${Object.keys(PROCESSES).filter((b) => !PROCESSES[b].migrator).join(", ")}`);
    continue;
  }
  if (!image.copied.has(binary)) problem(where, `runs ${binary}, which the Dockerfile does not copy into the image`);
  if (config.app !== binary) problem(where, `app is "${config.app}"; the app running ${binary} is named "${binary}"`);
  if (file !== `${process_.name}.toml`) problem(where, `the configuration of ${binary} is named fly/${process_.name}.toml`);
  const dockerfile = config.build?.dockerfile;
  if (dockerfile === undefined || resolve(flyDir, dockerfile) !== dockerfilePath) {
    problem(where, `[build] dockerfile must be "../Dockerfile" (the one image), got ${dockerfile}`);
  }

  const secrets = flySecrets(text);
  if (Object.keys(secrets).length === 0) problem(where, 'the header comment lists no secrets ("# Secrets ..." then "#   NAME  meaning" lines)');
  const flyEnv = Object.fromEntries(Object.entries(config.env ?? {}).map(([k, v]) => [k, String(v)]));
  for (const name of Object.keys(secrets)) {
    if (name in flyEnv) problem(where, `${name} is both in [env] and a secret`);
  }
  if (secrets.DATABASE_URL !== undefined && !secrets.DATABASE_URL.includes(`${process_.role}:`)) {
    problem(where, `the DATABASE_URL secret must use ${binary}'s own role ${process_.role}, says: ${secrets.DATABASE_URL}`);
  }
  const secretValues = Object.fromEntries(Object.keys(secrets).map((n) => [n, placeholder(n, n === "DATABASE_URL" ? process_.role : null)]));
  const env = withImage({ ...flyEnv, ...secretValues });
  checkConfig(where, command, env);

  if (config.kill_signal !== undefined && !["SIGTERM", "SIGINT"].includes(config.kill_signal)) {
    problem(where, `kill_signal ${config.kill_signal}: the processes drain on SIGTERM or SIGINT only`);
  }
  if (env.BIND_ADDRESS !== "::") {
    problem(where, `BIND_ADDRESS is ${env.BIND_ADDRESS ?? "unset (0.0.0.0)"}: Fly's private network (*.internal) is IPv6, set "::"`);
  }
  const ports = listeningPorts(binary, env);
  flyApps[config.app] = { file: where, binary, env, ports, config };
  if (ports === null) continue;

  const release = config.deploy?.release_command;
  if (release !== undefined) {
    const releaseCommand = String(release).trim().split(/\s+/);
    if (releaseCommand.join(" ") !== "protectogram-migrate up") problem(where, `release_command is "${release}", not "protectogram-migrate up"`);
    if (!image.copied.has(releaseCommand[0])) problem(where, `release_command runs ${releaseCommand[0]}, which the image does not have`);
    // The release machine has the app's env and secrets.
    checkConfig(`${where} [deploy] release_command`, releaseCommand, env);
  }

  const publicServices = [...(config.http_service ? [config.http_service] : []), ...(config.services ?? [])];
  if (process_.name === "edge") {
    if (config.http_service === undefined) problem(where, "the edge needs an [http_service] (it is the public app)");
    else if (config.http_service.internal_port !== ports.http) {
      problem(where, `[http_service] internal_port ${config.http_service.internal_port}, but the edge listens on HTTP_PORT ${ports.http}`);
    }
    const checks = [...(config.http_service?.checks ?? []), ...(config.services ?? []).flatMap((s) => s.http_checks ?? [])];
    if (!checks.some((c) => c.path === "/health/ready")) problem(where, "[[http_service.checks]] must check path /health/ready");
  } else if (publicServices.length > 0) {
    problem(where, `${binary} must not be public: remove [http_service] / [[services]] (it is reached over 6PN)`);
  }
  for (const s of publicServices) {
    if (s.internal_port !== undefined && ![ports.http, ports.metrics, ports.grpc].includes(s.internal_port)) {
      problem(where, `internal_port ${s.internal_port} is not a port ${binary} listens on`);
    }
  }
  const machineChecks = Object.entries(config.checks ?? {});
  for (const [name, c] of machineChecks) {
    if (c.type === "http" && c.port !== ports.metrics && c.port !== ports.http) {
      problem(where, `[checks.${name}] port ${c.port}: ${binary} serves HTTP health on ${ports.metrics}`);
    }
    if (c.type === "http" && !["/health", "/health/live", "/health/ready"].includes(c.path)) {
      problem(where, `[checks.${name}] path ${c.path} is not one of /health, /health/live, /health/ready`);
    }
    if (c.type === "tcp" && ![ports.grpc, ports.metrics, ports.http].includes(c.port)) {
      problem(where, `[checks.${name}] port ${c.port} is not a port ${binary} listens on`);
    }
  }
  if (process_.name !== "edge" && !machineChecks.some(([, c]) => c.type === "http" && c.path === "/health/ready" && c.port === ports.metrics)) {
    problem(where, `needs a [checks] http check of /health/ready on METRICS_PORT ${ports.metrics}`);
  }
  const metrics = config.metrics === undefined ? [] : [config.metrics].flat();
  if (metrics.length === 0) problem(where, `no [[metrics]] (${binary} serves /metrics on ${ports.metrics})`);
  for (const m of metrics) {
    if (m.port !== ports.metrics || m.path !== "/metrics") {
      problem(where, `[[metrics]] ${m.port}${m.path}: ${binary} serves /metrics on port ${ports.metrics}`);
    }
  }
  if (/^(false|0|no|off)$/i.test(env.METRICS_ENABLED ?? "")) problem(where, "METRICS_ENABLED is off but [[metrics]] scrapes");
}

const releases = Object.values(flyApps).filter((a) => a.config.deploy?.release_command !== undefined);
if (flyFiles.length > 0 && (releases.length !== 1 || releases[0].binary !== "protectogram-edge")) {
  problem("fly/", `exactly one app, protectogram-edge, migrates ([deploy] release_command); found: ${releases.map((a) => a.file).join(", ") || "none"}`);
}
for (const app of Object.values(flyApps)) {
  if (app.ports === null) continue;
  for (const variable of addrVariables(app.binary)) {
    const value = app.env[variable];
    const target = parseTarget(value);
    const serverApp = addrServer(variable);
    if (value === undefined) {
      problem(app.file, `${variable} is not set (${app.binary} would call 127.0.0.1): "${serverApp}.internal:<port>"`);
    } else if (target === null || !target.host.endsWith(".internal")) {
      problem(app.file, `${variable}="${value}" is not "<app>.internal:<port>" (Fly's private DNS)`);
    } else {
      const appName = target.host.replace(/\.internal$/, "").split(".").pop();
      const server = flyApps[appName];
      if (server === undefined) problem(app.file, `${variable}="${value}": there is no fly app ${appName}`);
      else if (server.binary !== serverApp) problem(app.file, `${variable}="${value}": ${appName} runs ${server.binary}, not ${serverApp}`);
      else if (server.ports !== null && server.ports.grpc !== target.port) {
        problem(app.file, `${variable}="${value}": ${appName} serves gRPC on ${server.ports.grpc}`);
      }
    }
  }
}
for (const binary of Object.keys(PROCESSES).filter((b) => !PROCESSES[b].migrator)) {
  if (flyFiles.length > 0 && !Object.values(flyApps).some((a) => a.binary === binary)) problem("fly/", `no app runs ${binary}`);
}

// --- Kubernetes --------------------------------------------------------------------------------------------

const k8sDir = join(SOURCE, "k8s");
const k8sFiles = existsSync(k8sDir) ? readdirSync(k8sDir).filter((f) => /\.ya?ml$/.test(f)).sort() : [];
if (k8sFiles.length === 0) problem("k8s/", "no *.yaml");
const objects = [];  // {file, object}
const ajv = new Ajv({ allErrors: true, strict: false, formats });
const validators = Object.fromEntries(Object.entries(schemas).map(([k, s]) => [k, ajv.compile(s)]));

// Every document of a k8s file as plain values, read as YAML 1.2 (duplicate keys are errors). Kubernetes'
// sigs.k8s.io/yaml reads YAML 1.1, where unquoted yes/no/on/off, leading-zero numbers, 1:30 and dates mean
// something else: a file that the two versions read differently is refused (quote those scalars).
function readYaml(text) {
  const read = (version) => YAML.parseAllDocuments(text, { version, uniqueKeys: true });
  const documents = read("1.2");
  const error = documents.flatMap((d) => d.errors)[0];
  if (error !== undefined) throw new Error(error.message.split("\n")[0]);
  const values = (docs) => docs.map((d) => d.toJS()).filter((d) => d !== null);
  const v12 = values(documents);
  if (!isDeepStrictEqual(values(read("1.1")), v12)) {
    throw new Error("YAML 1.1 (Kubernetes) and 1.2 read it differently: quote yes/no/on/off, leading-zero numbers, 1:30, dates");
  }
  return v12;
}

function formatAjvErrors(errors) {
  return errors
    .filter((e) => e.keyword !== "oneOf" || errors.length === 1)
    .slice(0, 4)
    .map((e) => `${e.instancePath || "/"} ${e.message}${e.params?.additionalProperty ? ` "${e.params.additionalProperty}"` : ""}${e.params?.allowedValues ? ` ${JSON.stringify(e.params.allowedValues)}` : ""}`)
    .join("; ");
}

// kubernetes-models' generated model of the object's kind (its full OpenAPI schema), or null when this
// version of the package has none where we look.
async function kubernetesModel(object) {
  const path = object.apiVersion.includes("/") ? object.apiVersion : "v1";  // core: "v1/Service"
  for (const candidate of [`${path}/${object.kind}.mjs`, `${path}/${object.kind}.js`, `${path}/${object.kind}/index.js`]) {
    const file = join(NODE_MODULES, "kubernetes-models", candidate);
    if (!existsSync(file)) continue;
    try {
      const module = await import(pathToFileURL(file).href);
      return module[object.kind] ?? module.default ?? null;
    } catch {
      return null;
    }
  }
  return null;
}

for (const file of k8sFiles) {
  const path = join(k8sDir, file);
  const text = readFileSync(path, "utf8");
  let documents;
  try {
    documents = readYaml(text);
  } catch (e) {
    problem(`k8s/${file}`, e.message);
    continue;
  }
  documents.forEach((object, i) => {
    const where = `k8s/${file} #${i + 1} ${object?.kind ?? "?"} ${object?.metadata?.name ?? "?"}`;
    const validate = validators[`${object?.apiVersion}/${object?.kind}`];
    if (validate === undefined) {
      problem(where, `no schema for ${object?.apiVersion}/${object?.kind} in tests/deploy/k8s_schema.mjs`);
      return;
    }
    try {
      runValidateFunc(validate, object);
    } catch (e) {
      problem(where, `invalid: ${formatAjvErrors(validate.errors ?? []) || e.message}`);
      return;
    }
    for (const p of semanticProblems(object)) problem(where, p);
    objects.push({ file: `k8s/${file}`, where, object });
  });
}
// And against kubernetes-models' model of its kind: the API's full OpenAPI schema.
for (const { where, object } of objects) {
  const Model = await kubernetesModel(object);
  if (typeof Model !== "function") {
    problem(where, `kubernetes-models has no model of ${object.apiVersion}/${object.kind}`);
    continue;
  }
  try {
    new Model(object).validate();  // throws a ValidationError naming the field
  } catch (e) {
    problem(where, `invalid (kubernetes-models): ${e.message}`);
  }
}

const byKind = (kind) => objects.filter((o) => o.object.kind === kind);
const namespaces = new Set(objects.filter((o) => o.object.kind !== "Namespace").map((o) => o.object.metadata.namespace));
if (namespaces.size !== 1 || namespaces.has(undefined)) {
  problem("k8s/", `every object must name the same metadata.namespace; found ${[...namespaces].join(", ")}`);
}
const namespace = [...namespaces][0];
if (!byKind("Namespace").some((o) => o.object.metadata.name === namespace)) problem("k8s/namespace.yaml", `no Namespace ${namespace}`);

const secrets = byKind("Secret");
for (const s of secrets) {
  if (basename(s.file) !== "secrets.example.yaml") problem(s.where, "a Secret belongs in k8s/secrets.example.yaml only (with placeholders)");
}
const secret = secrets.find((s) => s.object.metadata.name === "protectogram-secrets")?.object;
if (secret === undefined) problem("k8s/secrets.example.yaml", 'no Secret "protectogram-secrets"');
const secretKeys = { ...(secret?.stringData ?? {}), ...Object.fromEntries(Object.keys(secret?.data ?? {}).map((k) => [k, ""])) };
const configMaps = Object.fromEntries(byKind("ConfigMap").map((o) => [o.object.metadata.name, o.object.data ?? {}]));

// The value of a secret key for variable `name` as a process would get it: a placeholder of the right shape;
// a database URL keeps the example's role, which must be the process's own.
function secretValue(where, key, name, binary) {
  if (!(key in secretKeys)) {
    problem(where, `${name} refers to key ${key}, which the Secret protectogram-secrets does not have`);
    return undefined;
  }
  if (/DATABASE(_DIRECT)?_URL$/.test(name)) {
    const role = urlRole(secretKeys[key]);
    const own = PROCESSES[binary]?.role;
    if (name === "DATABASE_URL" && own && role !== own) {
      problem(where, `DATABASE_URL comes from ${key}, whose role is ${role}, not ${binary}'s own ${own}`);
    }
    return placeholder(name, role);
  }
  return placeholder(name);
}

// The environment of container `c` as Kubernetes builds it: envFrom in order, then env (which wins).
function containerEnv(where, c, binary) {
  const env = {};
  for (const source of c.envFrom ?? []) {
    const prefix = source.prefix ?? "";
    if (source.configMapRef) {
      const data = configMaps[source.configMapRef.name];
      if (data === undefined) {
        if (!source.configMapRef.optional) problem(where, `envFrom: no ConfigMap ${source.configMapRef.name}`);
        continue;
      }
      for (const [k, v] of Object.entries(data)) env[prefix + k] = v;
    }
    if (source.secretRef) {
      if (source.secretRef.name !== "protectogram-secrets") problem(where, `envFrom: no Secret ${source.secretRef.name}`);
      else for (const k of Object.keys(secretKeys)) env[prefix + k] = secretValue(where, k, prefix + k, binary);
    }
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined) {
      env[e.name] = e.value;
    } else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      if (ref.name !== "protectogram-secrets") problem(where, `${e.name}: no Secret ${ref.name}`);
      else env[e.name] = secretValue(where, ref.key, e.name, binary);
    } else if (e.valueFrom?.configMapKeyRef) {
      const ref = e.valueFrom.configMapKeyRef;
      const value = configMaps[ref.name]?.[ref.key];
      if (value === undefined && !ref.optional) problem(where, `${e.name}: no key ${ref.key} in ConfigMap ${ref.name}`);
      else if (value !== undefined) env[e.name] = value;
    } else {
      env[e.name] = "placeholder-from-the-downward-api";  // fieldRef: known only in the pod
    }
  }
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return env;
}

// The container port `port` (a number or a name) refers to, or undefined.
function resolvePort(container, port) {
  if (typeof port === "number") return (container.ports ?? []).some((p) => p.containerPort === port) ? port : undefined;
  return (container.ports ?? []).find((p) => p.name === port)?.containerPort;
}

const images = new Set();
const workloads = [];  // {where, kind, object, container, binary, env, ports, labels}
for (const o of [...byKind("Deployment"), ...byKind("Job")]) {
  const { object, where } = o;
  const pod = object.spec.template;
  for (const c of pod.spec.containers) {
    const cwhere = `${where} container ${c.name}`;
    images.add(c.image);
    const command = [...(c.command ?? []), ...(c.args ?? [])];
    const binary = command[0];
    if (binary === undefined) {
      problem(cwhere, "no command: name the process (the image's default is the edge)");
      continue;
    }
    if (!image.copied.has(binary)) problem(cwhere, `runs ${binary}, which the Dockerfile does not build and copy`);
    const process_ = PROCESSES[binary];
    if (process_ === undefined) {
      problem(cwhere, `runs ${binary}, not a Protectogram process`);
      continue;
    }
    if (Boolean(process_.migrator) !== (object.kind === "Job")) problem(cwhere, `${binary} belongs in a ${process_.migrator ? "Job" : "Deployment"}`);
    const env = withImage(containerEnv(cwhere, c, binary));
    checkConfig(cwhere, command, env);
    const ports = process_.migrator ? null : listeningPorts(binary, env);
    workloads.push({ where: cwhere, kind: object.kind, object, container: c, binary, env, ports, labels: pod.metadata?.labels ?? {} });

    const podSecurity = pod.spec.securityContext ?? {};
    const security = { ...podSecurity, ...(c.securityContext ?? {}) };
    if (security.runAsNonRoot !== true) problem(cwhere, "securityContext.runAsNonRoot must be true");
    const uid = image.user?.split(":")[0];
    if (security.runAsUser !== undefined && String(security.runAsUser) !== uid) {
      problem(cwhere, `runAsUser ${security.runAsUser}, but the image's USER is ${uid}`);
    }
    const resources = c.resources ?? {};
    if (!resources.requests?.cpu || !resources.requests?.memory || !resources.limits?.memory) {
      problem(cwhere, "resources need requests (cpu, memory) and limits (memory)");
    }
    if (ports === null) continue;

    // Container ports: exactly what the process listens on, named as the probes and Services refer to them.
    const expected = { grpc: ports.grpc, metrics: ports.metrics === ports.http ? undefined : ports.metrics, http: ports.http };
    const declared = (c.ports ?? []).map((p) => p.containerPort).sort();
    const listening = [...new Set(Object.values(expected).filter((p) => p !== undefined))].sort();
    if (!isDeepStrictEqual(declared, listening)) {
      problem(cwhere, `containerPorts ${declared.join(", ") || "none"}, but ${binary} listens on ${listening.join(", ")} with this env`);
    }
    for (const [name, port] of Object.entries(expected)) {
      const p = (c.ports ?? []).find((x) => x.containerPort === port);
      if (port !== undefined && p !== undefined && p.name !== name) problem(cwhere, `containerPort ${port} should be named "${name}"`);
    }
    // Probes: HTTP on a port serving /health*, gRPC on the gRPC port; readiness follows Postgres, liveness not.
    for (const kind of ["readinessProbe", "livenessProbe", "startupProbe"]) {
      const probe = c[kind];
      if (probe === undefined) {
        if (kind !== "startupProbe") problem(cwhere, `no ${kind}`);
        continue;
      }
      if (probe.httpGet) {
        const port = resolvePort(c, probe.httpGet.port);
        if (port === undefined || (port !== ports.metrics && port !== ports.http)) {
          problem(cwhere, `${kind} httpGet port ${probe.httpGet.port}: ${binary} serves HTTP health on ${ports.metrics}`);
        }
        if (!["/health", "/health/live", "/health/ready"].includes(probe.httpGet.path)) {
          problem(cwhere, `${kind} path ${probe.httpGet.path} is not one of /health, /health/live, /health/ready`);
        }
      }
      if (probe.grpc && probe.grpc.port !== ports.grpc) problem(cwhere, `${kind} grpc port ${probe.grpc.port}: ${binary} serves gRPC on ${ports.grpc ?? "no port"}`);
      if (probe.tcpSocket && resolvePort(c, probe.tcpSocket.port) === undefined) problem(cwhere, `${kind} tcpSocket port ${probe.tcpSocket.port} is not a container port`);
    }
    const ready = c.readinessProbe;
    if (ports.grpc !== undefined && ready && !ready.grpc) problem(cwhere, `readinessProbe should be grpc: {port: ${ports.grpc}} (grpc.health.v1.Health)`);
    if (ports.grpc === undefined && ready && ready.httpGet?.path !== "/health/ready") problem(cwhere, "readinessProbe should be httpGet /health/ready");
    const live = c.livenessProbe;
    if (live && (live.grpc || (live.httpGet && live.httpGet.path !== "/health/live"))) {
      problem(cwhere, "livenessProbe must be httpGet /health/live: Health and /health/ready follow Postgres, and a database outage must not restart every pod");
    }
  }
  if (object.kind === "Deployment") {
    if ((object.spec.replicas ?? 1) < 2) problem(where, `replicas ${object.spec.replicas ?? 1}: at least 2`);
  }
}
if (images.size > 1) problem("k8s/", `one image for every process, found ${[...images].join(", ")}`);
for (const binary of Object.keys(PROCESSES)) {
  if (!workloads.some((w) => w.binary === binary)) problem("k8s/", `nothing runs ${binary}`);
}
const deployments = workloads.filter((w) => w.kind === "Deployment");

// Services: each selects one Deployment's pods and targets its container ports; gRPC ones are headless.
const services = byKind("Service").map(({ object, where }) => {
  const selected = deployments.filter((d) => d.object.metadata.namespace === object.metadata.namespace && selectorMatches({ matchLabels: object.spec.selector ?? {} }, d.labels));
  if (!object.spec.selector || selected.length !== 1) {
    problem(where, `its selector must match the pods of exactly one Deployment, matches ${selected.length}`);
    return { object, where, deployment: undefined, ports: [] };
  }
  const d = selected[0];
  const ports = (object.spec.ports ?? []).map((p) => {
    const target = resolvePort(d.container, p.targetPort ?? p.port);
    if (target === undefined) problem(where, `port ${p.port}: targetPort ${p.targetPort ?? p.port} is not a container port of ${d.object.metadata.name}`);
    if (object.spec.clusterIP === "None" && target !== undefined && target !== p.port) {
      problem(where, `port ${p.port}: a headless Service resolves to pod IPs, so its port must be the container's (${target})`);
    }
    return { port: p.port, target };
  });
  if (d.ports?.grpc !== undefined && object.spec.clusterIP !== "None") {
    problem(where, "a gRPC service's Service must be headless (clusterIP: None), so that round-robin clients see every pod");
  }
  return { object, where, deployment: d, ports };
});
for (const d of deployments) {
  if (!services.some((s) => s.deployment === d)) problem(d.where, "no Service selects its pods");
  const pdbs = byKind("PodDisruptionBudget").filter((p) => selectorMatches(p.object.spec.selector, d.labels));
  if (pdbs.length !== 1) problem(d.where, `needs exactly one PodDisruptionBudget selecting its pods, has ${pdbs.length}`);
  for (const p of pdbs) {
    const min = p.object.spec.minAvailable;
    if (min !== 1) problem(p.where, `minAvailable ${min}: 1, so that a node drain can always evict one of ${d.object.spec.replicas ?? 1}`);
  }
}

// *_ADDR: a Service of this namespace, selecting the serving process, on its gRPC port.
for (const w of deployments) {
  for (const variable of addrVariables(w.binary)) {
    const value = w.env[variable];
    const target = parseTarget(value);
    if (value === undefined) {
      problem(w.where, `${variable} is not set (${w.binary} would call 127.0.0.1)`);
      continue;
    }
    if (target === null) {
      problem(w.where, `${variable}="${value}" is not host:port or dns:///host:port`);
      continue;
    }
    const [name, ns, ...rest] = target.host.split(".");
    if ((ns !== undefined && ns !== namespace) || (rest.length > 0 && rest.join(".") !== "svc" && rest.join(".") !== "svc.cluster.local")) {
      problem(w.where, `${variable}="${value}" is not a Service of namespace ${namespace}`);
      continue;
    }
    const service = services.find((s) => s.object.metadata.name === name);
    const serverBinary = addrServer(variable);
    if (service === undefined) problem(w.where, `${variable}="${value}": there is no Service ${name}`);
    else if (service.deployment?.binary !== serverBinary) {
      problem(w.where, `${variable}="${value}": Service ${name} selects ${service.deployment?.binary ?? "nothing"}, not ${serverBinary}`);
    } else if (!service.ports.some((p) => p.port === target.port && p.target === service.deployment.ports.grpc)) {
      problem(w.where, `${variable}="${value}": Service ${name} has no port ${target.port} to ${serverBinary}'s gRPC port ${service.deployment.ports.grpc}`);
    }
  }
}

// NetworkPolicy: who may connect, evaluated as the API defines it.
const policies = byKind("NetworkPolicy").map((o) => o.object);
const nsLabels = (ns, extra = {}) => ({ "kubernetes.io/metadata.name": ns, ...extra });
function ingressAllowed(targetLabels, targetContainer, port, source) {
  const selecting = policies.filter((p) => {
    const types = p.spec.policyTypes ?? (p.spec.egress ? ["Ingress", "Egress"] : ["Ingress"]);
    return p.metadata.namespace === namespace && types.includes("Ingress") && selectorMatches(p.spec.podSelector, targetLabels);
  });
  if (selecting.length === 0) return true;  // not isolated
  const portMatches = (rulePorts) =>
    rulePorts === undefined ||
    rulePorts.length === 0 ||
    rulePorts.some((p) => {
      if (p.port === undefined) return true;
      const number = typeof p.port === "number" ? p.port : resolvePort(targetContainer, p.port);
      return number === port || (p.endPort !== undefined && port >= number && port <= p.endPort);
    });
  const peerMatches = (peer) => {
    if (peer.ipBlock) return source.external === true && /^(0\.0\.0\.0|::)\/0$/.test(peer.ipBlock.cidr);
    if (source.external) return false;
    const nsOk = peer.namespaceSelector ? selectorMatches(peer.namespaceSelector, source.nsLabels) : source.namespace === namespace;
    const podOk = peer.podSelector ? selectorMatches(peer.podSelector, source.labels) : true;
    return nsOk && podOk;
  };
  return selecting.some((p) => (p.spec.ingress ?? []).some((rule) => portMatches(rule.ports) && (rule.from === undefined || rule.from.length === 0 || rule.from.some(peerMatches))));
}
const outsider = { external: true };
const stranger = { namespace, nsLabels: nsLabels(namespace), labels: { app: "not-protectogram" } };
const otherNamespace = { namespace: "elsewhere", nsLabels: nsLabels("elsewhere"), labels: {} };
const monitoring = { namespace: "monitoring", nsLabels: nsLabels("monitoring", { [MONITORING_LABEL[0]]: MONITORING_LABEL[1] }), labels: { app: "prometheus" } };
const asSource = (w) => ({ namespace, nsLabels: nsLabels(namespace), labels: w.labels });
if (!policies.some((p) => Object.keys(p.spec.podSelector).length === 0 && (p.spec.policyTypes ?? ["Ingress"]).includes("Ingress") && (p.spec.ingress ?? []).length === 0)) {
  problem("k8s/networkpolicy.yaml", "no default-deny policy (podSelector: {}, policyTypes: [Ingress], no ingress rules)");
}
const expect = (where, allowed, want, what) => {
  if (allowed !== want) problem(where, `NetworkPolicy ${want ? "blocks" : "lets in"} ${what}`);
};
for (const w of workloads) {
  if (w.ports === null) {
    expect(w.where, ingressAllowed(w.labels, w.container, 8080, stranger), false, "a pod of the namespace (the migration Job needs no ingress)");
    continue;
  }
  const name = w.object.metadata.name;
  if (w.ports.grpc === undefined) {
    for (const [source, what] of [[outsider, "outside clients"], [otherNamespace, "other namespaces"]]) {
      expect(w.where, ingressAllowed(w.labels, w.container, w.ports.http, source), true, `${what} on ${name}'s HTTP port ${w.ports.http}`);
    }
    continue;
  }
  for (const peer of deployments.filter((d) => d !== w)) {
    expect(w.where, ingressAllowed(w.labels, w.container, w.ports.grpc, asSource(peer)), true, `${peer.binary} on gRPC port ${w.ports.grpc}`);
  }
  for (const [source, what] of [[outsider, "outside clients"], [stranger, "other pods of the namespace"], [otherNamespace, "other namespaces"], [monitoring, "the monitoring namespace"]]) {
    expect(w.where, ingressAllowed(w.labels, w.container, w.ports.grpc, source), false, `${what} on gRPC port ${w.ports.grpc}`);
  }
  expect(w.where, ingressAllowed(w.labels, w.container, w.ports.metrics, monitoring), true, `a namespace labelled ${MONITORING_LABEL.join("=")} on metrics port ${w.ports.metrics}`);
  for (const [source, what] of [[outsider, "outside clients"], [stranger, "other pods of the namespace"]]) {
    expect(w.where, ingressAllowed(w.labels, w.container, w.ports.metrics, source), false, `${what} on metrics port ${w.ports.metrics}`);
  }
}

// --- verdict ---------------------------------------------------------------------------------------------

for (const n of notes) console.log(`note: ${n}`);
if (problems.length > 0) {
  for (const p of problems) console.log(p);
  console.log(`deploy check: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(
  `deploy check: ok: Dockerfile (${image.copied.size} binaries), ${flyFiles.length} Fly apps, ${objects.length} k8s objects in ` +
    `${k8sFiles.length} files, ${checkRuns} deployed environments passed --check-config`,
);
