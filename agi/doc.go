// Package agi is callbackd's FastAGI server: the protocol layer Asterisk talks
// to when the dialplan runs AGI(agi://callbackd:4573/script,...).
//
// Asterisk (res_agi.c) connects over TCP, sends its environment block (one
// "agi_name: value" line per variable, then a blank line), and then waits for
// commands, answering each with a "200 result=..." reply or an error code. A
// Server accepts those connections, parses the environment into a Session,
// and hands it to a Handler (usually a Mux routing on the script name). The
// handler drives the call with the Session's command methods; closing the
// connection ends the AGI() application and the dialplan continues.
//
// The package knows nothing about callbacks: it only speaks FastAGI. Its
// neighbours are Asterisk on the wire and, above it, the handlers that decide
// what to do with a call. agi/agitest provides a fake Asterisk for tests and
// load.
package agi
