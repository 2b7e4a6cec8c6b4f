// Package callback is the domain of callbackd: the words of the product and
// the rules between them.
//
// A callback Request is one row of the callback_requests queue. Its Status and
// Result follow the state machine of Sippy's ANI Callback application, with
// the seed's strings exactly ("Request received", "First leg initiated", ...,
// "Finished" with "Successful", "Out of retries", ...). The Dispatcher claims
// due requests from a Store, hands each to a Dialer (the ARI controller in
// production), and applies the retry policy when the first leg fails.
//
// This package imports no SQL driver, no HTTP and no Asterisk library: the
// store/ packages implement Store, the ari/ package implements Dialer, and the
// agi/ and HTTP packages create requests through the Store.
//
// # Glossary
//
// Comments across callbackd cite the feature catalogue's IDs and the seed
// documents, the commercial systems whose behaviour callbackd reproduces:
//
//	seed 000  Sippy Softswitch, "ANI Callback": options, callback_requests, statuses
//	seed 001  Sippy Softswitch, "2 Way Callback": SQL/XML-RPC requests, identities
//	seed 002  PortaSIP callback triggers: ANI, DNIS, PIN, web page, email
//	seed 003  Mizu VoIP server: iscallback modes, anumberhandling, SMS and API
//	seed 004  Kolmisoft MOR callback addon: retries, busy/failed IVRs, caller IDs,
//	          callback tariff, the Q.850 to SIP table
//
//	T1-T10  triggers: ANI (missed call), DNIS, PIN, access-number modes,
//	        CLD rules (ani_<options>_<string>), SQL insert, HTTP API and
//	        XML-RPC, web page, email, SMS
//	E1-E9   engine: the queue table, statuses and results, scheduling, leg A
//	        identity and caller ID, calling card, 2-way, busy/failed IVRs,
//	        concurrency limits, hangup causes
//	B1-B4   money: accounts and currencies, tariffs, who pays, talk time
//	F1-F4   safety: rate limits and duplicates, blocked destinations and
//	        spend caps, secrets, CLI normalisation
//	O1-O9   running it: one binary, the stores, the simulated Asterisk,
//	        dialplan samples, metrics and health, the console, CDR export
//	        and reports, webhooks, packages
//	S1-S4   beyond one machine: Galera, several Asterisks, several trunks,
//	        limits across nodes
//
// Seed terms: leg A is the call to the user (original_cli), leg B the call to
// the destination; the access number is the DID a user rings; ANI is the
// caller's number, DNIS (or CLD) the dialled one; the default account pays
// leg A for callers no account matches; anonymous accounting also charges
// the real account for that leg; HA1 is MD5(username:realm:password).
package callback
