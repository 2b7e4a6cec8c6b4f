// Package agitest is a fake Asterisk 22 for testing callbackd's FastAGI
// server (package agi) over real TCP on 127.0.0.1.
//
// Dial plays one call: it connects the way res_agi.c's launch_netscript does,
// sends the environment block in setup_env's order and format, then answers
// each command as Asterisk 22 would (200 replies, 510, 511 on a dead channel,
// the multi-line 520 usage) and records everything in a Transcript. The
// caller can be scripted to hang up at a given point, including between a
// command and its reply. Load runs many such calls concurrently and reports
// their latency, for benchmarks.
package agitest
