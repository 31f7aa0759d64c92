# Sourced by scripts/test.d/40-pull.sh: a throw-away ClickHouse 18.16 server on 127.0.0.1.
# Adapted from fixtures/gen/ch18_config.sh: query_log flushed every 500 ms, a passwordless
# `default` (stock-style empty <password>), password users, a one-node cluster for --cluster,
# and a bandwidth-limited `slow` user whose answers take long enough to be cut mid-stream.
# CH_CLUSTER_EXTRA, if set, is more <remote_servers> XML (a multi-node cluster).
CH_HTTP="${CH_HTTP:-38123}"
CH_TCP="${CH_TCP:-39000}"
CH_PID=""

ch18_write_config() { # $1 = dir
  local d="$1"
  mkdir -p "$d"/{data,tmp,user_files,format_schemas,log}
  cat > "$d/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger><level>information</level><log>$d/log/server.log</log><errorlog>$d/log/server.err.log</errorlog><size>100M</size><count>2</count></logger>
    <http_port>$CH_HTTP</http_port>
    <tcp_port>$CH_TCP</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <max_connections>256</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>50</max_concurrent_queries>
    <uncompressed_cache_size>1073741824</uncompressed_cache_size>
    <mark_cache_size>536870912</mark_cache_size>
    <path>$d/data/</path>
    <tmp_path>$d/tmp/</tmp_path>
    <user_files_path>$d/user_files/</user_files_path>
    <format_schema_path>$d/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <remote_servers>
        <chaudit_local>
            <shard><replica><host>127.0.0.1</host><port>$CH_TCP</port></replica></shard>
        </chaudit_local>
${CH_CLUSTER_EXTRA:-}
    </remote_servers>
    <query_log>
        <database>system</database>
        <table>query_log</table>
        <partition_by>toYYYYMM(event_date)</partition_by>
        <flush_interval_milliseconds>500</flush_interval_milliseconds>
    </query_log>
</yandex>
XML
  cat > "$d/users.xml" <<'XML'
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default><max_memory_usage>2000000000</max_memory_usage><log_queries>1</log_queries></default>
        <slow><log_queries>1</log_queries><max_network_bandwidth>20000</max_network_bandwidth></slow>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>::/0</ip></networks>
            <profile>default</profile><quota>default</quota>
        </default>
        <alice><password>alice-Str0ng-pw</password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></alice>
        <etl><password>etl-L0ader-pw</password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></etl>
        <auditor><password>auditor-Pw-9f3k</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></auditor>
        <slow><password>slow-pw</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>slow</profile><quota>default</quota></slow>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
}

ch18_start() { # $1 = dir
  if curl -s -o /dev/null "http://127.0.0.1:$CH_HTTP/ping"; then
    echo "something already answers on 127.0.0.1:$CH_HTTP" >&2; return 1
  fi
  ch18_write_config "$1"
  (cd "$1" && exec clickhouse-server --config-file="$1/config.xml" >"$1/stdout" 2>&1) &
  CH_PID=$!
  for _ in $(seq 150); do
    curl -sf "http://127.0.0.1:$CH_HTTP/ping" >/dev/null 2>&1 && return 0
    kill -0 "$CH_PID" 2>/dev/null || break
    sleep 0.2
  done
  echo "clickhouse-server did not start" >&2; tail -20 "$1/stdout" "$1/log/server.err.log" >&2 || true; return 1
}

ch18_stop() {
  if [ -n "$CH_PID" ] && kill -0 "$CH_PID" 2>/dev/null; then
    kill "$CH_PID"
    for _ in $(seq 50); do kill -0 "$CH_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$CH_PID" 2>/dev/null || true
  fi
  CH_PID=""
}
