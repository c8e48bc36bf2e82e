// The reference echo bot for botvisor's load benchmark: LivePerson's Node Agent SDK
// (node-agent-sdk@1.2.0, unmodified), built the way the SDK's own agent-bot example builds a
// bot, with many SDK `Agent`s (one per bot user) in one process.
//
// Each agent goes ONLINE, subscribes to its own OPEN conversations and to its routing tasks,
// accepts every WAITING ring, subscribes to the messaging events of each new conversation from
// sequence 0, and answers each consumer text message `X` exactly once with `You said: X`, after
// ACCEPT and READ receipts. A history replay (fromSeq 0, or a resubscription after a reconnect)
// never answers twice: every sequence seen is settled per conversation, and the bot's own
// receipts in the history settle what they cover (the SDK example's rule).
//
// Env: ACCOUNT, CSDS_DOMAIN, BOT_USERS (login:password,login:password,…); optional
// VENDOR_DELAY_MS (default 0) and RECEIPTS (default ACCEPT,READ). The platform's CA comes from
// NODE_EXTRA_CA_CERTS. Stdout: one line {"event":"ready","agents":N} once every agent is
// connected, ONLINE and subscribed. Stderr: one JSON line per error. No per-message output.
'use strict';
const Agent = require('node-agent-sdk').Agent;

const stdoutLine = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const stderrLine = (obj) => process.stderr.write(JSON.stringify(obj) + '\n');

// The SDK writes two warnings with console.warn (an invalid participant, an odd login answer);
// keep stderr to JSON lines.
console.warn = (...args) => stderrLine({event: 'warn', message: args.map(String).join(' ')});

function configError(message) {
    stderrLine({event: 'error', where: 'config', message});
    process.exit(2);
}

const ACCOUNT = process.env.ACCOUNT;
const CSDS_DOMAIN = process.env.CSDS_DOMAIN;
if (!ACCOUNT) configError('ACCOUNT is required: the account id');
if (!CSDS_DOMAIN) configError('CSDS_DOMAIN is required: host:port of the platform (the simulator)');

const USERS = (process.env.BOT_USERS || '').split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((entry) => {
    const colon = entry.indexOf(':');
    if (colon <= 0 || colon === entry.length - 1) configError(`BOT_USERS: ${JSON.stringify(entry.split(':')[0])} is not login:password`);
    return {login: entry.slice(0, colon), password: entry.slice(colon + 1)};
});
if (USERS.length === 0) configError('BOT_USERS is required: a comma-separated list of login:password');
if (new Set(USERS.map((u) => u.login)).size !== USERS.length) configError('BOT_USERS: a login is listed twice');

const DELAY_MS = Number(process.env.VENDOR_DELAY_MS || 0);
if (!Number.isInteger(DELAY_MS) || DELAY_MS < 0) configError('VENDOR_DELAY_MS: must be a whole number of milliseconds, 0 or more');

const RECEIPTS = (process.env.RECEIPTS || 'ACCEPT,READ').split(',').map((s) => s.trim().toUpperCase()).filter((s) => s.length > 0);
if (RECEIPTS.length === 0 || RECEIPTS.some((s) => s !== 'ACCEPT' && s !== 'READ') || new Set(RECEIPTS).size !== RECEIPTS.length) {
    configError('RECEIPTS: ACCEPT,READ (default), READ or ACCEPT');
}

const CLOCK_PING_MS = 30000; // as the SDK example: GetClock every 30 s keeps the socket busy
const MAX_BACKOFF_MS = 30000;

let readyCount = 0;
let allReady = false;
let shuttingDown = false;
const bots = [];

function describe(e) {
    if (!e) return 'unknown error';
    if (typeof e === 'string') return e;
    // The SDK wraps a refused login's {"error": {…}} object in an Error, losing its text.
    if (e.message === '[object Object]') return 'the login was refused (the SDK does not keep the reason)';
    if (e.message) return String(e.message);
    if (typeof e.body === 'string') return e.body;
    if (e.body !== undefined) return JSON.stringify(e.body).slice(0, 500);
    return String(e);
}

// A conversation's settled sequences: all below `floor`, plus those in `seen` (kept small: it
// only holds sequences above a gap, and the gap closes as soon as the missing event is seen).
function settle(conv, seq) {
    if (seq < conv.floor || conv.seen.has(seq)) return false;
    conv.seen.add(seq);
    while (conv.seen.has(conv.floor)) {
        conv.seen.delete(conv.floor);
        conv.floor++;
    }
    return true;
}

class EchoBot {
    constructor(login, password) {
        this.login = login;
        this.ready = false;
        this.conversations = new Map(); // convId -> {floor, seen}
        this.clock = null;
        this.retryTimer = null;
        this.reconnecting = false;
        this.backoff = 1000;
        this.agent = new Agent({accountId: ACCOUNT, username: login, password, csdsDomain: CSDS_DOMAIN});
        const agent = this.agent;
        agent.on('connected', () => this.onConnected());
        agent.on('routing.RoutingTaskNotification', (body) => this.onRings(body));
        agent.on('cqm.ExConversationChangeNotification', (body) => this.onConversations(body));
        agent.on('ms.MessagingEventNotification', (body) => this.onMessagingEvents(body));
        agent.on('error', (e) => this.onError(e));
        agent.on('closed', (code) => this.onClosed(code));
    }

    fail(where, e, conversationId) {
        const line = {event: 'error', agent: this.login, where, message: describe(e)};
        if (e && e.code !== undefined && e.code !== null) line.code = e.code;
        if (conversationId) line.conversationId = conversationId;
        stderrLine(line);
    }

    // A failure while the agents are still coming up ends the run: the benchmark must not start
    // with fewer agents than it asked for.
    setupFailed(where, e) {
        this.fail(where, e);
        if (!allReady) shutdown(1);
    }

    onConnected() {
        const agent = this.agent;
        this.reconnecting = false;
        this.backoff = 1000;
        // After a reconnect the snapshot of open conversations comes again and each one is
        // replayed from sequence 0; the bot's own receipts in it tell what was answered already.
        this.conversations.clear();
        clearInterval(this.clock);
        this.clock = setInterval(() => {
            if (agent.connected) agent.getClock({}, (e) => e && this.fail('getClock', e));
        }, CLOCK_PING_MS);
        let pending = 3;
        const step = (where) => (e) => {
            if (e) return this.setupFailed(where, e);
            if (--pending === 0) this.onReady();
        };
        agent.setAgentState({availability: 'ONLINE'}, step('setAgentState'));
        agent.subscribeExConversations({agentIds: [agent.agentId], convState: ['OPEN']}, step('subscribeExConversations'));
        agent.subscribeRoutingTasks({}, step('subscribeRoutingTasks'));
    }

    onReady() {
        if (this.ready) return; // a reconnect: already counted
        this.ready = true;
        readyCount++;
        if (readyCount === bots.length && !allReady) {
            allReady = true;
            stdoutLine({event: 'ready', agents: readyCount});
        }
    }

    onRings(body) {
        (body.changes || []).forEach((c) => {
            if (c.type !== 'UPSERT' || !c.result || !c.result.ringsDetails) return;
            c.result.ringsDetails.forEach((r) => {
                if (r.ringState !== 'WAITING') return;
                this.agent.updateRingState({ringId: r.ringId, ringState: 'ACCEPTED'}, (e) => e && this.fail('updateRingState', e, c.result.conversationId));
            });
        });
    }

    onConversations(body) {
        const me = this.agent.agentId;
        (body.changes || []).forEach((change) => {
            const convId = change.result && change.result.convId;
            if (!convId) return;
            const details = change.result.conversationDetails;
            const mine = change.type === 'UPSERT' && details && Array.isArray(details.participants)
                && details.participants.some((p) => p.id === me && p.role === 'ASSIGNED_AGENT');
            if (mine) {
                if (!this.conversations.has(convId)) this.follow(convId);
            } else {
                // closed, transferred away, or no longer assigned to this agent
                this.conversations.delete(convId);
            }
        });
    }

    follow(convId) {
        this.conversations.set(convId, {floor: 0, seen: new Set()});
        this.agent.subscribeMessagingEvents({dialogId: convId, fromSeq: 0}, (e) => e && this.fail('subscribeMessagingEvents', e, convId));
    }

    // Live events and the history replay (delivered by the SDK as one notification) alike.
    onMessagingEvents(body) {
        const convId = body.dialogId;
        const conv = this.conversations.get(convId);
        if (!conv) return; // the SDK delivers events of conversations not (or no longer) followed
        const me = this.agent.agentId;
        const changes = body.changes || [];
        // 1. This agent's own receipts settle the sequences they cover (what it answered before).
        changes.forEach((c) => {
            if (c.originatorId === me && c.event && c.event.type === 'AcceptStatusEvent' && Array.isArray(c.event.sequenceList)) {
                c.event.sequenceList.forEach((seq) => typeof seq === 'number' && settle(conv, seq));
            }
        });
        // 2. Consumer messages not settled yet are new; every sequence seen is settled.
        const fresh = [];
        changes.forEach((c) => {
            if (typeof c.sequence !== 'number' || !settle(conv, c.sequence)) return;
            const role = c.originatorMetadata && c.originatorMetadata.role;
            const type = c.event && c.event.type;
            if (role === 'CONSUMER' && (type === 'ContentEvent' || type === 'RichContentEvent')) fresh.push(c);
        });
        if (fresh.length === 0) return;
        const sequenceList = fresh.map((c) => c.sequence);
        RECEIPTS.forEach((status) => {
            this.agent.publishEvent({dialogId: convId, event: {type: 'AcceptStatusEvent', status, sequenceList}}, (e) => e && this.fail('publishEvent:' + status, e, convId));
        });
        fresh.forEach((c) => {
            const e = c.event;
            const text = e.type === 'ContentEvent' && (!e.contentType || e.contentType === 'text/plain') && typeof e.message === 'string' ? e.message : null;
            if (text !== null) this.answer(convId, 'You said: ' + text);
        });
    }

    answer(convId, message) {
        const send = () => {
            if (!this.conversations.has(convId)) return; // left while the vendor was thinking
            this.agent.publishEvent({dialogId: convId, event: {type: 'ContentEvent', contentType: 'text/plain', message}}, (e) => e && this.fail('publishEvent', e, convId));
        };
        if (DELAY_MS > 0) setTimeout(send, DELAY_MS);
        else send();
    }

    onError(e) {
        if (shuttingDown) return;
        if (!allReady) return this.setupFailed('sdk', e);
        this.fail('sdk', e);
        if (this.reconnecting) this.scheduleReconnect(); // the login or the new socket failed
    }

    onClosed(code) {
        clearInterval(this.clock);
        this.clock = null;
        if (shuttingDown) return;
        if (!allReady) return this.setupFailed('socket', {message: 'the socket closed', code});
        this.fail('socket', {message: 'the socket closed; reconnecting', code});
        this.scheduleReconnect();
    }

    scheduleReconnect() {
        if (this.retryTimer || shuttingDown) return;
        this.reconnecting = true;
        this.retryTimer = setTimeout(() => {
            this.retryTimer = null;
            this.agent.reconnect(); // a new login, then a new socket; 'connected' sets it all up again
        }, this.backoff);
        this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    }

    dispose() {
        clearInterval(this.clock);
        clearTimeout(this.retryTimer);
        try {
            this.agent.dispose();
        } catch (e) {
            // exiting anyway
        }
        this.agent.on('error', () => {}); // dispose() drops every listener; a late socket error must not throw
    }
}

function shutdown(code) {
    if (shuttingDown) return;
    shuttingDown = true;
    bots.forEach((b) => b.dispose());
    process.exit(code);
}

process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
process.on('uncaughtException', (e) => {
    stderrLine({event: 'error', where: 'uncaught', message: describe(e)});
    shutdown(1);
});

USERS.forEach((u) => bots.push(new EchoBot(u.login, u.password)));
