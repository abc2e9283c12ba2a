# Sourced by the bench scripts that start `fwbench serve --port 0 --port-file FILE`.
# wait_until_ready FILE SECONDS LOG: waits until FILE names the port and /v2/health/ready answers
# 200 there, then prints the port. Otherwise says so with the end of the server's LOG and fails,
# so a script stops at the server that did not start rather than at its first request.
wait_until_ready() {
  local file="$1" seconds="$2" log="$3"
  for _ in $(seq $((seconds * 10))); do
    if [ -s "$file" ] && curl -sf "http://127.0.0.1:$(cat "$file")/v2/health/ready" >/dev/null; then
      cat "$file"
      return 0
    fi
    sleep 0.1
  done
  echo "fwbench serve was not ready within $seconds s; the end of $log:" >&2
  tail -20 "$log" >&2
  return 1
}
