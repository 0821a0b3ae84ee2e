#!/usr/bin/env bash
# Helpers shared by the scripts that start test servers on 127.0.0.1 (sourced, not run).

# A TCP port on 127.0.0.1 that is free right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until 127.0.0.1:PORT accepts connections; fails early if PID exits first.
wait_port() {  # PORT PID WHAT [TRIES of 50 ms, default 200]
  for _ in $(seq 1 "${4:-200}"); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then
      return 0
    fi
    kill -0 "$2" 2>/dev/null || { echo "$(basename "$0"): $3 exited during start-up" >&2; return 1; }
    sleep 0.05
  done
  echo "$(basename "$0"): $3 did not open port $1" >&2
  return 1
}

# Stops the process whose PID FILE holds: TERM, up to 5 s, then KILL.
stop_pid() {  # FILE
  [[ -f $1 ]] || return 0
  local pid
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$1"
}
