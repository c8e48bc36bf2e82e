// A small bot built on LivePerson's Node Agent SDK (unmodified), run against botvisor's
// simulator by tests/sdk_conformance.rs. It follows the SDK's own agent-bot example: ONLINE,
// subscribe to its conversations and routing tasks, accept every ring, answer each consumer
// message once. "transfer" moves the conversation to skill SKILL_FOR_TRANSFER (an id), "close"
// closes it, anything else is echoed. It prints one JSON line per event on stdout.
'use strict';
const Agent = require('node-agent-sdk').Agent;

const log = (event, data) => process.stdout.write(JSON.stringify(Object.assign({event}, data || {})) + '\n');

const agent = new Agent({
    accountId: process.env.ACCOUNT,
    username: process.env.BOT_LOGIN,
    password: process.env.BOT_PASSWORD,
    csdsDomain: process.env.CSDS_DOMAIN,
});

const transferSkill = process.env.SKILL_FOR_TRANSFER;
const followed = {};
const answered = {};

agent.on('connected', () => {
    log('connected', {agentId: agent.agentId});
    agent.setAgentState({availability: 'ONLINE'}, (e) => log('state', {error: e ? String(e.body || e) : null}));
    agent.subscribeExConversations({agentIds: [agent.agentId], convState: ['OPEN']}, (e) => log('subscribed-conversations', {error: e ? String(e.body || e) : null}));
    agent.subscribeRoutingTasks({}, (e) => log('subscribed-routing', {error: e ? String(e.body || e) : null}));
    agent.getClock({}, (e) => log('clock', {error: e ? String(e.body || e) : null}));
    agent._clock = setInterval(() => agent.getClock({}, () => {}), 30000);
});

agent.on('routing.RoutingTaskNotification', (body) => {
    body.changes.forEach((c) => {
        if (c.type === 'UPSERT') {
            c.result.ringsDetails.forEach((r) => {
                if (r.ringState === 'WAITING') {
                    agent.updateRingState({ringId: r.ringId, ringState: 'ACCEPTED'}, (e, resp) => log('ring-accepted', {conversationId: c.result.conversationId, error: e ? String(e.body || e) : null, resp}));
                }
            });
        }
    });
});

agent.on('cqm.ExConversationChangeNotification', (body) => {
    body.changes.forEach((change) => {
        const convId = change.result.convId;
        const mine = change.result.conversationDetails.participants.some((p) => p.id === agent.agentId && p.role === 'ASSIGNED_AGENT');
        if (change.type === 'UPSERT' && mine && !followed[convId]) {
            followed[convId] = true;
            log('conversation', {conversationId: convId, participants: change.result.conversationDetails.participants});
            agent.subscribeMessagingEvents({dialogId: convId, fromSeq: 0}, (e) => log('history', {conversationId: convId, error: e ? String(e.body || e) : null}));
        } else if (change.type === 'DELETE' || (change.type === 'UPSERT' && !mine && followed[convId])) {
            delete followed[convId];
            log('conversation-left', {conversationId: convId});
        }
    });
});

agent.on('ms.MessagingEventNotification', (body) => {
    const convId = body.dialogId;
    if (!followed[convId]) return;
    body.changes.forEach((c) => {
        if (c.event.type !== 'ContentEvent') return;
        if (c.originatorId === agent.agentId) { log('own-message', {conversationId: convId, sequence: c.sequence}); return; }
        const key = convId + ':' + c.sequence;
        if (answered[key]) return;
        answered[key] = true;
        const text = c.event.message;
        log('consumer-message', {conversationId: convId, sequence: c.sequence, text});
        agent.publishEvent({dialogId: convId, event: {type: 'AcceptStatusEvent', status: 'READ', sequenceList: [c.sequence]}});
        if (text === 'transfer') {
            agent.publishEvent({dialogId: convId, event: {type: 'ContentEvent', contentType: 'text/plain', message: 'transferring you'}}, () => {
                agent.updateConversationField({conversationId: convId, conversationField: [
                    {field: 'ParticipantsChange', type: 'REMOVE', role: 'ASSIGNED_AGENT'},
                    {field: 'Skill', type: 'UPDATE', skill: transferSkill},
                ]}, (e) => log('transferred', {conversationId: convId, error: e ? String(e.body || e) : null}));
            });
        } else if (text === 'close') {
            agent.updateConversationField({conversationId: convId, conversationField: [{field: 'ConversationStateField', conversationState: 'CLOSE'}]},
                (e) => log('closed', {conversationId: convId, error: e ? String(e.body || e) : null}));
        } else {
            // As the SDK's README does: typing first, then the answer with frame-level metadata
            // (headers null, an ExternalId), then active again.
            agent.publishEvent({dialogId: convId, event: {type: 'ChatStateEvent', chatState: 'COMPOSING'}});
            agent.publishEvent({dialogId: convId, event: {type: 'ContentEvent', contentType: 'text/plain', message: 'echo: ' + text}}, null, [{type: 'ExternalId', id: 'echo-' + c.sequence}],
                (e, resp) => log('answered', {conversationId: convId, error: e ? String(e.body || e) : null, sequence: resp && resp.sequence}));
            agent.publishEvent({dialogId: convId, event: {type: 'ChatStateEvent', chatState: 'ACTIVE'}});
        }
    });
});

agent.on('error', (err) => log('error', {message: err && err.message, code: err && err.code}));
agent.on('warn', (w) => log('warn', {message: w && w.message}));
agent.on('closed', (code) => { log('closed-socket', {code}); clearInterval(agent._clock); });
process.on('SIGTERM', () => { agent.dispose(); process.exit(0); });
