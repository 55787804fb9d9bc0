"""The prose of `fleet-handshake --help`: what each command does, its exit codes."""

DESCRIPTION = """\
Deliver SOPS-encrypted Kubernetes Secrets to the clusters that FleetHandshake definitions
target, through Fleet: reads handshakes and encrypted Secrets from a source folder and writes
one Fleet bundle folder (fleet.yaml + manifests) per handshake target, for a Fleet GitRepo.
"""

EPILOG = """\
exit codes: 0 success; 1 invalid input, or a handshake not Synced; 2 wrong command line;
3 unexpected error (use --debug for a traceback), or for `plan`: changes present;
4 `publish` refused: the output branch holds output from a newer source commit;
5 `publish` refused: cannot tell which source is newer (see --allow-unordered); 130 interrupted.
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
namespace of a cluster, and handshakes that match no cluster. Removed bundles come first, under
their own heading, with what the removal guard of generate and publish says of them. Writes
nothing.

exit codes: 0 no changes; 1 invalid inputs, a handshake not Synced, conflicts, or removals the
guard refuses (see generate --help; --allow-removals); 3 changes."""

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

exit codes: 0 published or up to date; 1 a handshake not Synced, invalid inputs or a git error;
2 wrong command line; 4 the branch holds output from a newer source; 5 order cannot be told."""

GITREPO_HELP = """\
Print one Fleet GitRepo per workspace found in SOURCE, with `paths` pointing at that workspace's
folder of the output. No `targets` (each bundle carries its own) and no `targetNamespace` (it
would override each bundle's namespace). Apply them on the management cluster."""

ACTION_HELP = """\
Run inside the GitHub Action (.github/actions/fleet-handshake): validate SOURCE first and, on
problems, print one ::error annotation per problem (file relative to --repo-root, line, YAML
path), list them in the job summary and exit 1. Then run --command: `plan` writes the plan as
Markdown to the job summary and to $RUNNER_TEMP/fleet-handshake-plan.md, and as JSON to
$RUNNER_TEMP/fleet-handshake-plan.json; `generate` and `publish` write a short summary.
Step outputs (in $GITHUB_OUTPUT): changed, plan-json, plan-markdown. Never prints a value.

exit codes: as the command, except that `plan` exits 0 when there are changes (a pull request
check fails only on invalid inputs, handshakes not Synced and conflicts)."""

CHECK_SECRETS_HELP = """\
Report every v1 Secret in the given files (items of a List too) whose data or stringData is not
SOPS-encrypted, with file, line and YAML path, and exit 1; exit 0 when there is none. A file that
cannot be read as YAML fails too (any document of it could be a clear-text Secret); other valid
YAML passes. Files inside a folder holding fleet-handshake's output (a .fleet-handshake/status.json
inside) are skipped. This is the pre-commit hook `fleet-handshake-no-plaintext-secrets`."""

CONTROLLER_HELP = """\
Run in (or against) the management cluster and reconcile every FleetHandshake object, as the
original operator did: read the Secret secretNamespace/secretName from the cluster (no SOPS),
render the same per-target bundles as `generate` and apply them as Fleet Bundle objects in the
handshake's namespace (server-side apply, owned by the handshake: deleting it deletes them),
delete the Bundles of dropped targets, and write status (Pending, Missing, Synced, Error, with a
message and observedGeneration). Reacts to changes of handshakes and Secrets (watches), resyncs
periodically, retries errors with backoff. A deleted Secret makes its handshake Missing and keeps
its Bundles. One replica works at a time (a coordination.k8s.io Lease); SIGTERM stops it cleanly.

PLAIN MODE PUTS THE SECRET'S VALUES INTO THE BUNDLE OBJECTS (as the original operator did);
downstream mode keeps them out (Fleet copies the Secret from the workspace namespace)."""
