// The browser client: name step, then bot chat over /ws with reconnect.
const $ = (id) => document.getElementById(id);
let token = localStorage.getItem('token');
let socket = null;
let backoff = 500;
const shown = new Set();

function addLine(msg) {
  if (shown.has(msg.id)) return;
  shown.add(msg.id);
  const li = document.createElement('li');
  li.className = msg.source;
  li.textContent = msg.msg;
  $('bot-log').append(li);
  li.scrollIntoView({ block: 'nearest' });
}

function setConnection(online) {
  $('connection').textContent = online ? 'online' : 'reconnecting…';
  $('connection').className = online ? 'online' : 'offline';
}

async function loadHistory() {
  const resp = await fetch(`/refresh_token?token=${encodeURIComponent(token)}`);
  if (!resp.ok) return false;
  const doc = await resp.json();
  doc.messages.forEach(addLine);
  return true;
}

function connect() {
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  socket = new WebSocket(`${proto}://${location.host}/ws?token=${encodeURIComponent(token)}`);
  socket.onopen = () => { backoff = 500; setConnection(true); };
  socket.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === 'bot.reply') addLine({ ...frame, source: 'bot' });
    else if (frame.type === 'error') $('bot-error').textContent = frame.message;
  };
  socket.onclose = (event) => {
    setConnection(false);
    if (event.code === 1008) { localStorage.removeItem('token'); location.reload(); return; }
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 8000);
  };
}

async function start() {
  $('name-step').hidden = true;
  $('bot').hidden = false;
  await loadHistory();
  connect();
}

$('name-step').addEventListener('submit', async (event) => {
  event.preventDefault();
  const resp = await fetch('/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: $('name-input').value }),
  });
  const body = await resp.json();
  if (!resp.ok) { $('name-error').textContent = body.error.message; return; }
  token = body.token;
  localStorage.setItem('token', token);
  start();
});

$('bot-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('bot-input').value;
  if (!text.trim() || !socket || socket.readyState !== WebSocket.OPEN) return;
  const ref = crypto.randomUUID();
  const onAck = (e) => {
    const frame = JSON.parse(e.data);
    if (frame.ref !== ref) return;
    socket.removeEventListener('message', onAck);
    if (frame.type === 'ack') { addLine({ id: frame.id, source: 'human', msg: text }); $('bot-error').textContent = ''; }
  };
  socket.addEventListener('message', onAck);
  socket.send(JSON.stringify({ type: 'bot.say', text, ref }));
  $('bot-input').value = '';
});

if (token) {
  loadHistory().then((known) => {
    if (known) { $('bot-log').replaceChildren(); shown.clear(); start(); }
    else { localStorage.removeItem('token'); token = null; }
  });
}
