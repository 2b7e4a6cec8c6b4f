package agitest

// Usage texts are the descriptions of res_agi.c's documentation as
// ast_xmldoc_build_description renders them: one line per paragraph, markup
// kept, since AGI sends them without the console colouring.
const (
	usageChannelStatus = "Returns the status of the specified <replaceable>channelname</replaceable>. If no channel name is given then returns the status of the current channel."

	usageExec = "Executes <replaceable>application</replaceable> with given <replaceable>options</replaceable>.\n" +
		"Returns whatever the <replaceable>application</replaceable> returns, or <literal>-2</literal> on failure to find <replaceable>application</replaceable>.\n" +
		"<note>NOTE:</note> exec does not evaluate dialplan functions and variables unless it is explicitly enabled by setting the <variable>AGIEXECFULL</variable> variable to <literal>yes</literal>."

	usageGetData = "Stream the given <replaceable>file</replaceable>, and receive DTMF data.\n" +
		"Returns the digits received from the channel at the other end."

	usageGetFullVariable = "Evaluates the given <replaceable>expression</replaceable> against the channel specified by <replaceable>channelname</replaceable>, or the current channel if <replaceable>channelname</replaceable> is not provided.\n" +
		"Unlike GET VARIABLE, the <replaceable>expression</replaceable> is processed in a manner similar to dialplan evaluation, allowing complex and built-in variables to be accessed, e.g. <literal>The time is ${EPOCH}</literal>\n" +
		"Returns <literal>0</literal> if no channel matching <replaceable>channelname</replaceable> exists, <literal>1</literal> otherwise.\n" +
		"Example return code: 200 result=1 (The time is 1578493800)"

	usageGetVariable = "Returns <literal>0</literal> if <replaceable>variablename</replaceable> is not set. Returns <literal>1</literal> if <replaceable>variablename</replaceable> is set and returns the variable in parentheses.\n" +
		"Example return code: 200 result=1 (testvariable)"

	usageHangup = "Hangs up the specified channel. If no channel name is given, hangs up the current channel"

	usageSetVariable = "Sets a variable to the current channel."

	usageStreamFile = "Send the given file, allowing playback to be interrupted by the given digits, if any. Returns <literal>0</literal> if playback completes without a digit being pressed, or the ASCII numerical value of the digit if one was pressed, or <literal>-1</literal> on error or if the channel was disconnected. If musiconhold is playing before calling stream file it will be automatically stopped and will not be restarted after completion."

	usageVerbose = "Sends <replaceable>message</replaceable> to the console via verbose message system. <replaceable>level</replaceable> is the verbose level (1-4). Always returns <literal>1</literal>"

	usageWaitForDigit = "Waits up to <replaceable>timeout</replaceable> milliseconds for channel to receive a DTMF digit. Returns <literal>-1</literal> on channel failure, <literal>0</literal> if no digit is received in the timeout, or the numerical value of the ascii of the digit if one is received. Use <literal>-1</literal> for the <replaceable>timeout</replaceable> value if you desire the call to block indefinitely."
)
