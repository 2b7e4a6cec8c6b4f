// Package mail is the email trigger (PortaSIP's email callback, seed 002):
// a message whose body or subject carries
//
//	P <account> <password> SN <callback number> DN <destination>
//
// asks for a callback to SN that is then connected to DN (DN left out: the
// calling card, which asks for the destination after answer).
//
// Parse reads one RFC 5322 message and finds the command; Handler checks
// the account's password with the auth package and creates the request
// through callback.Service, in one insert, so a message is either a queued
// callback or a refusal with a reason, never half of one. The message
// arrives through the built-in SMTP listener (Server, on emersion/go-smtp),
// which refuses bad messages at DATA with a 5xx reply naming the reason, or
// through Pipe, for an MTA that hands each message to `callbackd mail` on
// standard input and maps its exit code (sysexits) to a bounce or a retry.
package mail
