// Small DOM helpers shared by the views: element lookup and creation, short-lived notices, times.

export const $ = (id) => document.getElementById(id);

/** Creates an element with properties (`className`, `textContent`, `dataset`, attributes…) and children. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key in node && typeof value !== 'string') node[key] = value;
    else if (key === 'className' || key === 'textContent' || key === 'title') node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

const NOTICE_MS = 5000;
const MAX_NOTICES = 3;

/** Shows a short notice at the top of the page; `kind` is `error` or `info`. Never an alert box. */
export function notify(message, kind = 'error') {
  const box = $('toasts');
  const item = el('div', { className: `toast ${kind}` }, el('span', { textContent: message }));
  const close = el('button', { className: 'toast-close', type: 'button', 'aria-label': 'Dismiss', textContent: '×' });
  close.addEventListener('click', () => item.remove());
  item.append(close);
  box.append(item);
  while (box.children.length > MAX_NOTICES) box.firstElementChild.remove();
  setTimeout(() => {
    item.classList.add('leaving');
    setTimeout(() => item.remove(), 300);
  }, NOTICE_MS);
}

/** Plain words for an error of the client library (a `ClientError`: the server's code or the library's own), or any Error. */
export function describeError(error) {
  const code = error?.code;
  const message = error?.message || 'Something went wrong';
  switch (code) {
    case 'unavailable': return 'The service is busy right now. Try again in a moment.';
    case 'rate_limited': return 'Slow down a little and try again.';
    case 'too_large': return 'That message is too long.';
    case 'connection_lost': return 'The connection dropped before the server answered. Try again.';
    case 'not_connected': return 'Not connected right now, so it was not sent. Try again once the page is back online.';
    case 'timeout': return 'The server did not answer in time. Try again.';
    case 'network':
    case 'connect_failed': return 'The server cannot be reached. Check your connection.';
    case 'too_many_sockets': return 'This session is open in too many tabs. Close some, then reload this page.';
    case 'disconnected': return 'A moderator disconnected you. Reload the page to connect again (it works once any ban is over).';
    case 'banned': return 'A moderator has banned this name for now. Try again later.';
    case 'closed': return 'The connection is closed. Reload the page to connect again.';
    default: return message.charAt(0).toUpperCase() + message.slice(1);
  }
}

/** `HH:MM` in local time for an RFC 3339 timestamp. */
export function clock(timestamp) {
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return '';
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Whether a log is scrolled to (or near) its end, so new lines should keep it there. */
export function atEnd(log) {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
}

/** Scrolls a log to its end. */
export function scrollToEnd(log) {
  log.scrollTop = log.scrollHeight;
}

/** Copies text to the clipboard where allowed; otherwise selects it in `shown` (an element showing it) for the reader to copy. */
export async function copyText(text, shown) {
  try {
    await navigator.clipboard.writeText(text);
    notify('Link copied', 'info');
  } catch {
    if (shown && !shown.closest('[hidden]')) window.getSelection().selectAllChildren(shown);
    notify(`Copy this link: ${text}`, 'info');
  }
}
