// A real Bot Framework bot (npm botbuilder, CloudAdapter, no app id: it accepts the local Direct
// Line fake's unauthenticated requests and answers on the serviceUrl it names), as a brand would
// write one. Listens on 127.0.0.1 (PORT, or a free port); prints {"listening": port} first.
"use strict";
const http = require("http");
const { ActivityHandler, CardFactory, CloudAdapter, ConfigurationBotFrameworkAuthentication, EventFactory, MessageFactory } =
  require("botbuilder");

const adapter = new CloudAdapter(new ConfigurationBotFrameworkAuthentication({}));
adapter.onTurnError = async (context, error) => {
  console.error(JSON.stringify({ turnError: String(error && error.stack || error) }));
};

class DemoBot extends ActivityHandler {
  constructor() {
    super();
    this.onMessage(async (context, next) => {
      const text = (context.activity.text || "").trim().toLowerCase();
      const convId = context.activity.channelData && context.activity.channelData.context && context.activity.channelData.context.convId;
      if (context.activity.channelData && context.activity.channelData.action && context.activity.channelData.action.name === "WELCOME") {
        await context.sendActivity("Welcome from a real Bot Framework bot!");
      } else if (text === "card") {
        await context.sendActivity(MessageFactory.attachment(CardFactory.heroCard("Our shoes", ["https://example.com/shoes.png"],
          CardFactory.actions([{ type: "imBack", title: "buy", value: "buy" }]))));
      } else if (text === "menu") {
        await context.sendActivity(MessageFactory.suggestedActions(["Yes", "No"], "Pick one"));
      } else if (text === "urgent") {
        await context.sendActivity({ type: "message", text: "Marked urgent.",
          channelData: { action: { name: "CHANGE_TTR", parameters: { ttrType: "URGENT" } } } });
      } else if (text === "handoff") {
        await context.sendActivity("Handing you off");
        await context.sendActivity(EventFactory.createHandoffInitiation(context, { skill: "billing" }));
      } else {
        await context.sendActivity(`Bot Framework heard: ${context.activity.text} (conversation ${convId || "?"})`);
      }
      await next();
    });
  }
}
const bot = new DemoBot();

const server = http.createServer(async (req, res) => {
  if (req.method !== "POST" || !req.url.startsWith("/api/messages")) {
    res.statusCode = 404;
    return res.end();
  }
  let body = "";
  for await (const chunk of req) body += chunk;
  let parsed;
  try { parsed = JSON.parse(body); } catch (_) { res.statusCode = 400; return res.end(); }
  // The request and response shapes CloudAdapter.process reads and writes (restify's).
  const request = { body: parsed, headers: req.headers, method: req.method };
  const response = {
    socket: req.socket,
    status(code) { res.statusCode = code; return this; },
    header(name, value) { res.setHeader(name, value); return this; },
    send(payload) { if (payload !== undefined) res.write(typeof payload === "string" ? payload : JSON.stringify(payload)); return this; },
    end() { res.end(); return this; },
  };
  try {
    await adapter.process(request, response, (context) => bot.run(context));
  } catch (error) {
    console.error(JSON.stringify({ processError: String(error && error.stack || error) }));
    if (!res.writableEnded) { res.statusCode = 500; res.end(); }
  }
});
server.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  console.log(JSON.stringify({ listening: server.address().port }));
});
