#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, combined broker + controller) for
# development and tests, from Maven Central jars: no Docker, no tarball.
#
#   scripts/kafka.sh fetch    download the broker jars into .kafka/lib (skipped when current)
#   scripts/kafka.sh start    fetch, format storage once, start, wait until it accepts clients
#   scripts/kafka.sh stop     SIGTERM (controlled shutdown), SIGKILL after 30 s
#   scripts/kafka.sh status   exit 0 when the broker answers, 1 otherwise
#   scripts/kafka.sh reset    stop and delete the data folder
#
# Env: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_HOME_DIR (<project>/.kafka: config,
#      data, logs, pid), KAFKA_LIB_DIR (<project>/.kafka/lib), KAFKA_HEAP (512m),
#      KAFKA_START_TIMEOUT (90 seconds).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POM="$ROOT/scripts/kafka/pom.xml"
HOME_DIR="${KAFKA_HOME_DIR:-$ROOT/.kafka}"
# Jars are shared by every broker home (tests start throw-away brokers with their own home).
LIB="${KAFKA_LIB_DIR:-$ROOT/.kafka/lib}"
CONF="$HOME_DIR/config"
DATA="$HOME_DIR/data"
LOGS="$HOME_DIR/logs"
PID_FILE="$HOME_DIR/broker.pid"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
HEAP="${KAFKA_HEAP:-512m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"

say() { printf '[kafka] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid; pid="$(cat "$PID_FILE")"
  kill -0 "$pid" 2>/dev/null && ps -o args= -p "$pid" | grep -q 'kafka\.Kafka' && echo "$pid"
}

fetch() {
  local stamp="$LIB/.pom.sha256" want
  want="$(sha256sum "$POM" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then return 0; fi
  command -v mvn >/dev/null || { say "mvn not found: install Maven (apt-get install maven)"; exit 1; }
  say "downloading Apache Kafka $KAFKA_VERSION jars from Maven Central into $LIB"
  rm -rf "$LIB"  # jars of another version on one classpath give linkage errors
  mkdir -p "$LIB"
  mvn -B -q -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIB" -DincludeScope=runtime >&2
  echo "$want" > "$stamp"
  say "$(ls "$LIB" | grep -c '\.jar$') jars ready"
}

write_config() {
  mkdir -p "$CONF" "$DATA" "$LOGS"
  cat > "$CONF/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA
num.partitions=1
# Topics are created explicitly (the service does it at start), as on most production clusters.
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
  cat > "$CONF/log4j2.properties" <<'PROPS'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = OUT
logger.req.name = kafka.request.logger
logger.req.level = warn
PROPS
  sed -e 's/^rootLogger.level = info/rootLogger.level = warn/' "$CONF/log4j2.properties" > "$CONF/tools-log4j2.properties"
  echo 'appender.out.target = SYSTEM_ERR' >> "$CONF/tools-log4j2.properties"
}

format_storage() {
  [[ -f "$DATA/meta.properties" ]] && return 0
  if [[ ! -s "$HOME_DIR/cluster-id" ]]; then
    java -cp "$LIB/*" -Xmx256m -Dlog4j2.configurationFile="$CONF/tools-log4j2.properties" \
      kafka.tools.StorageTool random-uuid > "$HOME_DIR/cluster-id"
  fi
  say "formatting storage in $DATA"
  java -cp "$LIB/*" -Xmx256m -Dlog4j2.configurationFile="$CONF/tools-log4j2.properties" \
    kafka.tools.StorageTool format --standalone -t "$(cat "$HOME_DIR/cluster-id")" -c "$CONF/server.properties" >&2
}

start() {
  if pid="$(running_pid)"; then say "already running (pid $pid) on 127.0.0.1:$PORT"; return 0; fi
  if port_open "$PORT"; then say "127.0.0.1:$PORT is already taken by another process"; exit 1; fi
  command -v java >/dev/null || { say "java not found: install a JDK 17+"; exit 1; }
  fetch
  write_config
  format_storage
  say "starting Apache Kafka $KAFKA_VERSION on 127.0.0.1:$PORT (log: $LOGS/broker.out)"
  nohup java "-Xms$HEAP" "-Xmx$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Dlog4j2.configurationFile="$CONF/log4j2.properties" -Dkafka.logs.dir="$LOGS" \
    -cp "$LIB/*" kafka.Kafka "$CONF/server.properties" > "$LOGS/broker.out" 2>&1 < /dev/null &
  echo $! > "$PID_FILE"
  local pid=$! waited=0
  until port_open "$PORT"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "broker exited during start; last lines of $LOGS/broker.out:"; tail -n 20 "$LOGS/broker.out" >&2; exit 1
    fi
    if (( waited >= START_TIMEOUT * 4 )); then say "broker not ready after ${START_TIMEOUT}s"; exit 1; fi
    sleep 0.25; waited=$((waited + 1))
  done
  say "ready on 127.0.0.1:$PORT (pid $pid)"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then say "not running"; rm -f "$PID_FILE"; return 0; fi
  say "stopping pid $pid"
  kill -TERM "$pid"
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then say "still running after 30 s: SIGKILL"; kill -KILL "$pid"; fi
  rm -f "$PID_FILE"
  say "stopped"
}

status() {
  if port_open "$PORT"; then
    say "answering on 127.0.0.1:$PORT$(pid="$(running_pid)" && echo " (pid $pid)")"; return 0
  fi
  say "not answering on 127.0.0.1:$PORT"; return 1
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  reset) stop; rm -rf "$DATA" "$HOME_DIR/cluster-id"; say "data deleted" ;;
  *) echo "usage: $0 fetch|start|stop|status|reset" >&2; exit 2 ;;
esac
