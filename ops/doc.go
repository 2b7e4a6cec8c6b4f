// Package ops holds what an operator plugs into monitoring: the Grafana
// dashboard over callbackd's /metrics (grafana/) and the Prometheus alert
// rules with their unit tests (prometheus/). Its tests check both with
// promtool and against the metric names callbackd exports.
package ops
