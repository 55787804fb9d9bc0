"""The prose of `fleet-handshake --help`: what each command does, its exit codes."""

DESCRIPTION = """\
Deliver SOPS-encrypted Kubernetes Secrets to the clusters that FleetHandshake definitions
target, through Fleet: reads handshakes and encrypted Secrets from a source folder and writes
one Fleet bundle folder (fleet.yaml + manifests) per handshake target, for a Fleet GitRepo.
"""

EPILOG = """\
exit codes: 0 success; 1 invalid input, or a handshake not Synced; 2 wrong command line;
3 unexpected error (use --debug for a traceback), for every command;
4 `publish` refused: the output branch holds output from a newer source commit;
5 `publish` refused: cannot tell which source is newer (see --allow-unordered);
10 `plan`: changes present;
11 `status`, `publish --wait`: not yet Ready at OUT's commit on every targeted cluster; 130 interrupted.
Run 'fleet-handshake COMMAND --help' for a command's options."""

GENERATE_HELP = """\
Find every FleetHandshake and SOPS-encrypted Secret under SOURCE, validate them all, decrypt
the Secrets the handshakes reference (with the sops binary and the usual SOPS key environment:
SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, ...) and write OUT/<workspace>/<bundle>/{fleet.yaml,secret.yaml}
for each handshake target, plus OUT/.fleet-handshake/status.json.

The new tree is built aside and swapped in atomically. Bundles of handshakes that are Missing
or Error are kept as they were; bundles whose handshake (or target) was deleted are removed.
If any input is invalid, nothing is written.

Removal guard: removing a bundle makes Fleet uninstall its Secret from every cluster. A run
refuses (exit 1, nothing written) to remove the bundles of handshakes gone from the source when
the source has no handshake at all, or when they are more than half of OUT's bundles and more
than 5; it names them. --allow-removals lets it remove them.

PLAIN MODE WRITES SECRETS IN CLEAR TEXT: keep OUT in a private repository."""

VALIDATE_HELP = """\
Parse and check every FleetHandshake and encrypted Secret under SOURCE without decrypting
anything (no keys needed). Reports every problem with file, line, document and YAML path.
Lists (what `kubectl get ... -o yaml` prints) are read item by item. Folders holding
fleet-handshake's output (a .fleet-handshake/status.json inside) are skipped, as are hidden
ones. Use it in pre-commit hooks and pull-request checks."""


PLAN_HELP = """\
Render in memory and compare with OUT as it is (or, with --against REF, as committed at REF):
per bundle added, removed, modified or unchanged, and for modified ones what changed (targets,
target namespace, secret type, labels, the names of data keys added, removed or changed).
Never a value, nor a hash of one. With --inventory, each bundle is resolved to the clusters it
reaches, with Fleet's own matching rules, and the plan shows what each cluster gains, loses or
sees change, and flags conflicts: two handshakes delivering one Secret name into the same
namespace of a cluster, and handshakes that match no cluster. Removed bundles come first (in
text under their own heading, in markdown as the first rows), with what the removal guard of
generate and publish says of them. Writes nothing.

--map (needs --inventory) shows the delivery map instead of the changes: per workspace and
cluster, every Secret it receives from the source as rendered now (namespace/name, handshake,
target, bundle, delivery mode, data key names), the clusters that receive nothing and the
handshakes that reach no cluster. Markdown groups the clusters that receive the same Secrets.
The exit code is the plan's, as without --map.

exit codes: 0 no changes; 1 invalid inputs, a handshake not Synced, conflicts, or removals the
guard refuses (see generate --help; --allow-removals); 2 wrong command line; 3 unexpected error;
10 changes present."""

PUBLISH_HELP = """\
Generate into OUT, commit OUT with git and push it to the branch of the remote. No commit when
nothing changed; the commit message lists the changed handshakes and bundles, never values.
When the push is rejected because someone else pushed first, fetch, move onto their commit,
regenerate and try again, up to --retries times. Never force-pushes or rewrites history.
Refuses to run when OUT has changes it did not write, or the work tree has other changes,
and, as generate does, when it would remove more bundles than the removal guard allows
(see generate --help; --allow-removals).

Never goes back in time: each commit records the source commit and a digest of the source files
it was generated from (trailers Fleet-Handshake-Source-Commit and -Digest). Before committing and
after every fetch, the newest such record on the branch is compared with this run's source:
output from a newer source commit (a descendant of this one) is never replaced (exit 4); when
git cannot tell (unrelated or shallow history, a source outside git or with uncommitted changes)
publish refuses too (exit 5) unless --allow-unordered is given. Nothing is pushed then.

With --wait, once pushed (or up to date), look at Fleet on the management cluster (--kubeconfig,
--context) until it reports the branch's commit Ready on every cluster the bundles target, then
print the status as `status` does (progress on a terminal); at the timeout, name the clusters
that are not Ready and exit 11.

exit codes: 0 published or up to date (and, with --wait, Ready); 1 a handshake not Synced, invalid
inputs or a git error; 2 wrong command line; 4 the branch holds output from a newer source; 5 order
cannot be told; 11 --wait timed out before every targeted cluster was Ready."""

STATUS_HELP = """\
Ask Fleet, through the Kubernetes API of the management cluster (--kubeconfig, --context, or the
usual defaults), whether each handshake's Secret reached each cluster. Reads fleet-handshake's
Bundles in every workspace of OUT (as committed at HEAD of its repository) or of SOURCE, their
BundleDeployments and the Clusters, and prints per handshake and cluster (Rancher display names,
as plan shows them) Fleet's state (Ready, NotReady, Pending, WaitApplied, ErrApplied, OutOfSync,
Modified) with Fleet's message, and the commit the cluster's deployment comes from. Called out:
bundles of OUT that Fleet has no Bundle for (no GitRepo points at OUT, or it has not read OUT's
commit yet: state Absent) and fleet-handshake Bundles of this source that Fleet still has and OUT
no longer has. With SOURCE, the bundles are those generate writes for it and commits are shown,
not compared. Reads no Secret: needs list on bundles, clusters and clustergroups in each
workspace and on bundledeployments in all namespaces.

exit codes: 0 every targeted cluster is Ready at OUT's commit, no bundle is missing or left over;
1 invalid inputs, or the Kubernetes API failed; 2 wrong command line or no usable kubeconfig;
11 not yet Ready everywhere (with --wait: at the timeout)."""

GITREPO_HELP = """\
Print one Fleet GitRepo per workspace found in SOURCE, with `paths` pointing at that workspace's
folder of the output. No `targets` (each bundle carries its own) and no `targetNamespace` (it
would override each bundle's namespace). Apply them on the management cluster.

--repo must be a URL Fleet can clone from: https://, http://, ssh://, git:// or git+ssh://
with a host, or git@HOST:PATH; not a local path, and without credentials (exit 2): put those
in a Secret on the management cluster and name it with --client-secret."""

ACTION_HELP = """\
Run inside the GitHub Action (.github/actions/fleet-handshake): validate SOURCE first and, on
problems, print one ::error annotation per problem (file relative to --repo-root, line, YAML
path), list them in the job summary and exit 1. Then run --command: `plan` writes the plan as
Markdown to the job summary and to $RUNNER_TEMP/fleet-handshake-plan.md, and as JSON to
$RUNNER_TEMP/fleet-handshake-plan.json; `generate` and `publish` write a short summary.
Step outputs (in $GITHUB_OUTPUT): changed, plan-json, plan-markdown. Never prints a value.
--mode, --branch, --remote, --message, --context and --kubeconfig mean what they mean for
generate, plan and publish.

exit codes: as the command, except that `plan` exits 0 when there are changes (the command's
10; changed=true): a pull request check fails only on invalid inputs, handshakes not Synced,
conflicts and refused removals (1), and on an unexpected error (3; changed=false)."""

CHECK_SECRETS_HELP = """\
Report every v1 Secret in the given files (items of a List too) whose data or stringData is not
SOPS-encrypted, with file, line and YAML path, and exit 1; exit 0 when there is none. A file that
cannot be read as YAML fails too (any document of it could be a clear-text Secret); other valid
YAML passes. Skipped: only what fleet-handshake wrote in clear text, plain mode's secret.yaml in
OUT/<workspace>/<bundle>/ when OUT/.fleet-handshake/status.json is a status record generate wrote
that lists that bundle folder; any other file in OUT is checked. This is the pre-commit hook
`fleet-handshake-no-plaintext-secrets`."""

IMPORT_HELP = """\
Write the FleetHandshakes of a cluster running the original operator (every namespace, or
--namespace), or of an export (--from-file: kubectl get fleethandshakes,secrets -A -o yaml),
into SOURCE, with each Secret they reference (secretNamespace/secretName), so that generate
delivers the same Secrets to the same clusters as the operator's Bundles did:
  SOURCE/handshakes/<workspace>/<name>.yaml   the handshake, without status and server fields
  SOURCE/secrets/<namespace>/<name>.yaml      the Secret (name, namespace, type, data), encrypted
Each Secret is piped into sops, which encrypts it by the creation rule of SOURCE/.sops.yaml that
matches its path (refused when there is no .sops.yaml or no rule matches): clear text is never
written to disk. Nothing in SOURCE is overwritten: handshakes and Secrets SOURCE already defines,
and files that exist, are kept and reported. A handshake whose Secret is not found is reported
and not imported, unless --allow-missing. Everything is checked and encrypted before the first
file is written; invalid inputs write nothing. Cluster access: --kubeconfig, --context (default:
$KUBECONFIG, ~/.kube/config, the in-cluster service account); it needs list on fleethandshakes
and get on the referenced Secrets.

exit codes: 0 every handshake found was imported (or was in SOURCE already); 1 a handshake was
not imported (its Secret missing, its file taken, or invalid), or invalid inputs; 2 wrong command
line, no .sops.yaml or no matching creation rule, no usable kubeconfig."""

CONTROLLER_HELP = """\
Run in (or against) the management cluster and reconcile every FleetHandshake object, as the
original operator did: read the Secret secretNamespace/secretName from the cluster (no SOPS),
render the same per-target bundles as `generate` and apply them as Fleet Bundle objects in the
handshake's namespace (server-side apply, owned by the handshake: deleting it deletes them),
delete the Bundles of dropped targets, and write status (Synced, Missing or Error, with a message
and observedGeneration; the CRD's Pending until then). Reacts to changes of handshakes and Secrets
(watches), resyncs periodically, retries errors with backoff. A deleted Secret makes its handshake
Missing and keeps its Bundles. One replica works at a time (a coordination.k8s.io Lease); SIGTERM
stops it cleanly.

PLAIN MODE PUTS THE SECRET'S VALUES INTO THE BUNDLE OBJECTS (as the original operator did);
downstream mode keeps them out (Fleet copies the Secret from the workspace namespace).

exit codes: 0 stopped by SIGTERM or Ctrl-C (the Lease released); 1 the Lease was lost (another
replica leads now: restart to take part again); 2 wrong command line or no usable kubeconfig."""
