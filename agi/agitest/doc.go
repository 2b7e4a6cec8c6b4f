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
//
// Two habits of run_agi that a handler meets on the real thing are kept:
// when its loop ends (the server closed the connection, or AGIEXITONHANGUP
// cut it short) Asterisk writes one more HANGUP, and EXEC Wait on a channel
// that has hung up still sleeps its full time and reports 0. The fake spends
// no real time on media otherwise.
package agitest
