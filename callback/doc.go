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
package callback
