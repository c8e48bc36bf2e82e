// Microsoft's own Direct Line client (npm botframework-directlinejs, polling) against the
// simulator's Direct Line fake: it starts a conversation with the secret, posts a message and
// must see the bot's reply to it. Args: the fake's origin, the secret, the text. Prints the
// replies as JSON lines; exits 1 when none came in time or the client saw an error. A fourth
// argument `websocket` reads the replies from the conversation's stream instead of polling.
"use strict";
global.XMLHttpRequest = require("xhr2");
// The client looks for a global WebSocket before it streams (Node 20 has none).
global.WebSocket = require("ws");
const { DirectLine, ConnectionStatus } = require("botframework-directlinejs");

const [origin, secret, text, mode] = process.argv.slice(2);
const directLine = new DirectLine({
  domain: `${origin}/v3/directline`, secret, webSocket: mode === "websocket", pollingInterval: 200, timeout: 10000, WebSocket: require("ws"),
});
const timer = setTimeout(() => { console.error("no reply within 20 s"); process.exit(1); }, 20000);
let posted = null;
directLine.connectionStatus$.subscribe((status) => {
  if (status === ConnectionStatus.FailedToConnect || status === ConnectionStatus.ExpiredToken) {
    console.error(`the client could not connect: status ${status}`);
    process.exit(1);
  }
});
directLine.activity$.subscribe((activity) => {
  if (activity.from && activity.from.id === "judge-user") return; // its own message, echoed
  if (posted && activity.replyToId === posted) {
    console.log(JSON.stringify({ reply: activity.text, attachments: activity.attachments || [], conversation: activity.conversation.id }));
    clearTimeout(timer);
    directLine.end();
    process.exit(0);
  }
}, (error) => { console.error(`activity stream error: ${error}`); process.exit(1); });
directLine.postActivity({ from: { id: "judge-user", name: "Judge" }, type: "message", text }).subscribe(
  (id) => { posted = id; },
  (error) => { console.error(`posting failed: ${error && error.message || error}`); process.exit(1); },
);
