# Shared by the table scripts (sourced; they set $out before calling run).

# acc KEY: the value of KEY in the JSON object on the last line of
# standard input, as a percentage with two decimals.
acc() { python3 -c 'import json,sys; print("%.2f" % (100*json.loads(sys.stdin.readlines()[-1])[sys.argv[1]]))' "$1"; }

# run NAME COMMAND...: runs COMMAND --out $out/NAME --json once and keeps
# its last line as $out/NAME.json (a later call prints the kept line).
run() {
  local name=$1; shift
  if [ ! -s "$out/$name.json" ]; then
    # Kept only if the command succeeds (a failed run must not leave a
    # progress line that later calls would take for its result); the
    # explicit return: set -e does not reach into $(run ...).
    "$@" --out "$out/$name" --json | tail -1 > "$out/$name.json.tmp" || return 1
    mv "$out/$name.json.tmp" "$out/$name.json"
  fi
  cat "$out/$name.json"
}
