// The sandbox console of protectogram-sim: the traveler's and the guardians' Telegram chats and phones.
// Polls GET api/state every 500 ms and re-renders only what changed (the text being typed, input focus
// and the chats' scroll positions survive). Every action is a POST to the simulator, which turns it into a
// real, signed provider webhook. docs/console.md describes the page and the API.
'use strict';

(() => {
  const POLL_MS = 500;
  const TOAST_MS = 6000;

  const PHONE_MODES = [
    ['console', 'Отвечаю здесь'],
    ['answer', 'Берёт и жмёт 1'],
    ['no_answer', 'Не берёт трубку'],
    ['busy', 'Занято'],
    ['machine', 'Автоответчик'],
    ['reject', 'Сбрасывает'],
  ];
  const ROLE_LABELS = { traveler: 'путешественник', guardian: 'хранитель' };
  const CALL_TITLES = {
    idle: 'Нет звонка',
    ringing: 'Входящий звонок',
    answered: 'Идёт разговор',
    ended: 'Звонок завершён',
  };
  const INCIDENT_LABELS = {
    active: 'идёт оповещение',
    acknowledged: 'хранитель взял ответственность',
    canceled: 'отменён путешественником',
    escalated: 'никто не ответил на звонки',
    none: 'тревог пока не было',
  };
  const CAUSE_LABELS = {
    normal_clearing: 'разговор завершён',
    completed: 'разговор завершён',
    hangup: 'положили трубку',
    no_answer: 'нет ответа',
    timeout: 'нет ответа',
    busy: 'занято',
    rejected: 'сброшен',
    call_rejected: 'сброшен',
    declined: 'сброшен',
    machine: 'автоответчик',
    machine_detected: 'автоответчик',
    canceled: 'отменён',
    cancelled: 'отменён',
    failed: 'не удалось дозвониться',
  };
  const KEYPAD = [
    ['1', ''], ['2', 'ABC'], ['3', 'DEF'],
    ['4', 'GHI'], ['5', 'JKL'], ['6', 'MNO'],
    ['7', 'PQRS'], ['8', 'TUV'], ['9', 'WXYZ'],
    ['*', ''], ['0', '+'], ['#', ''],
  ];
  const AVATAR_COLORS = ['#e17076', '#7bc862', '#65aadd', '#a695e7', '#ee7aae', '#6ec9cb', '#faa774'];

  const SVG_NS = 'http://www.w3.org/2000/svg';
  const ICONS = {
    phone: 'M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2c.3-.3.7-.4 1-.2 1.1.4 2.3.6 3.6.6.6 0 1 .4 1 1V20c0 .6-.4 1-1 1C10.6 21 3 13.4 3 4c0-.6.4-1 1-1h3.5c.6 0 1 .4 1 1 0 1.3.2 2.5.6 3.6.1.3 0 .7-.2 1l-2.3 2.2z',
    send: 'M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z',
    speaker: 'M3 9v6h4l5 5V4L7 9H3zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4z',
    bot: 'M12 2a2 2 0 0 1 1 3.7V7h5a3 3 0 0 1 3 3v7a3 3 0 0 1-3 3H6a3 3 0 0 1-3-3v-7a3 3 0 0 1 3-3h5V5.7A2 2 0 0 1 12 2zM8.5 12a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm7 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z',
  };

  // ---- small helpers ---------------------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = v;
        else if (k === 'testid') node.dataset.testid = v;
        else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
        else if (k in node && typeof v !== 'string') node[k] = v;
        else node.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function icon(name, cls) {
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('class', 'icon ' + (cls || ''));
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', ICONS[name]);
    path.setAttribute('fill', 'currentColor');
    svg.append(path);
    return svg;
  }

  function clock(ms, withSeconds) {
    if (!ms) return '';
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, '0');
    return p(d.getHours()) + ':' + p(d.getMinutes()) + (withSeconds ? ':' + p(d.getSeconds()) : '');
  }

  function duration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    return String(Math.floor(s / 60)).padStart(2, '0') + ':' + String(s % 60).padStart(2, '0');
  }

  function avatarColor(key) {
    let h = 0;
    for (const ch of String(key)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return AVATAR_COLORS[h % AVATAR_COLORS.length];
  }

  function initial(name) {
    const first = Array.from(String(name || '?').trim())[0];
    return first ? first.toUpperCase() : '?';
  }

  function nearBottom(node) {
    return node.scrollHeight - node.scrollTop - node.clientHeight < 24;
  }

  function keyTestId(digit) {
    return digit === '*' ? 'star' : digit === '#' ? 'hash' : digit;
  }

  // ---- toasts ----------------------------------------------------------------------------------------

  const toasts = document.getElementById('toasts');

  function toast(message, kind) {
    const node = el('div', { class: 'toast ' + (kind || 'error'), role: 'status', text: message });
    node.addEventListener('click', () => node.remove());
    toasts.append(node);
    while (toasts.children.length > 4) toasts.firstElementChild.remove();
    setTimeout(() => {
      node.classList.add('leaving');
      setTimeout(() => node.remove(), 300);
    }, TOAST_MS);
  }

  // ---- actions ---------------------------------------------------------------------------------------

  // POSTs an action; answers true when the simulator took it. Failures become a toast.
  async function act(label, path, body, button) {
    if (button) {
      button.disabled = true;
      button.classList.add('pending');
    }
    try {
      const res = await fetch(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body || {}),
      });
      let answer = null;
      try {
        answer = await res.json();
      } catch (_) {
        answer = null;
      }
      if (!res.ok || (answer && answer.ok === false)) {
        const why = (answer && answer.error) || 'HTTP ' + res.status + (res.statusText ? ' ' + res.statusText : '');
        throw new Error(why);
      }
      return true;
    } catch (err) {
      toast(label + ': ' + (err && err.message ? err.message : String(err)));
      return false;
    } finally {
      if (button) {
        button.classList.remove('pending');
        button.disabled = false;
      }
      pollSoon();
    }
  }

  const personPath = (key, what) => 'api/people/' + encodeURIComponent(key) + '/' + what;
  const callPath = (id, what) => 'api/calls/' + encodeURIComponent(id) + '/' + what;

  // ---- the person cards ------------------------------------------------------------------------------

  const peopleRoot = document.getElementById('people');
  const cards = new Map(); // key -> card
  const answeredSince = new Map(); // call id -> when this page first saw it answered
  const dialed = new Map(); // call id -> digits pressed from this page

  function createCard(person) {
    const key = person.key;
    const card = { key, person, sig: {}, chatLen: -1, callId: '', callState: 'idle' };

    card.avatar = el('div', { class: 'avatar' });
    card.name = el('div', { class: 'owner-name' });
    card.role = el('span', { class: 'role-pill' });
    card.contact = el('div', { class: 'owner-contact' });

    card.chat = el('div', { class: 'chat', testid: 'chat-' + key, role: 'log', 'aria-label': 'Чат' });
    card.keyboard = el('div', { class: 'reply-kb', testid: 'keyboard-' + key });
    card.input = el('input', {
      class: 'composer-input',
      testid: 'input-' + key,
      type: 'text',
      placeholder: 'Сообщение',
      autocomplete: 'off',
      'aria-label': 'Сообщение боту',
    });
    card.send = el('button', { class: 'composer-send', type: 'submit', testid: 'send-' + key, title: 'Отправить' },
      icon('send'));
    const composer = el('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); sendText(card); } },
      card.input, card.send);

    card.mode = el('select', { class: 'phone-mode', testid: 'phone-mode-' + key, 'aria-label': 'Как ведёт себя телефон' });
    for (const [value, label] of PHONE_MODES) card.mode.append(el('option', { value, text: label }));
    card.mode.addEventListener('change', async () => {
      const mode = card.mode.value;
      card.modePending = mode;
      await act('Режим телефона', personPath(key, 'phone'), { mode }, null);
      card.modePending = null;
    });

    card.callState = el('span', { class: 'call-state', testid: 'call-state-' + key, text: 'idle' });
    card.callTitle = el('div', { class: 'call-title' });
    card.callSub = el('div', { class: 'call-sub' });
    card.spoken = el('div', { class: 'spoken', testid: 'spoken-' + key });
    card.dialed = el('div', { class: 'dialed' });

    card.answer = el('button', { class: 'call-btn answer', type: 'button', testid: 'answer-' + key, title: 'Ответить' },
      icon('phone'), el('span', { text: 'Ответить' }));
    card.decline = el('button', { class: 'call-btn decline', type: 'button', testid: 'decline-' + key, title: 'Отклонить' },
      icon('phone', 'down'), el('span', { text: 'Отклонить' }));
    card.hangup = el('button', { class: 'call-btn hangup', type: 'button', testid: 'hangup-' + key, title: 'Положить трубку' },
      icon('phone', 'down'), el('span', { text: 'Положить' }));
    card.answer.addEventListener('click', () => callAction(card, 'answer', 'Ответить', card.answer));
    card.decline.addEventListener('click', () => callAction(card, 'decline', 'Отклонить', card.decline));
    card.hangup.addEventListener('click', () => callAction(card, 'hangup', 'Положить трубку', card.hangup));

    card.keys = [];
    card.keypad = el('div', { class: 'keypad' });
    for (const [digit, letters] of KEYPAD) {
      const b = el('button', { class: 'key', type: 'button', testid: 'key-' + key + '-' + keyTestId(digit), disabled: true },
        el('span', { class: 'key-digit', text: digit }), el('span', { class: 'key-letters', text: letters }));
      b.addEventListener('click', () => pressDigit(card, digit, b));
      card.keys.push(b);
      card.keypad.append(b);
    }

    card.phone = el('section', { class: 'phone state-idle', testid: 'phone-' + key },
      el('div', { class: 'phone-head' },
        el('span', { class: 'phone-label' }, icon('phone'), el('span', { text: 'Телефон' }), card.callState),
        card.mode),
      el('div', { class: 'phone-screen' },
        el('div', { class: 'call-top' },
          el('div', { class: 'call-ring' }, icon('phone')),
          el('div', { class: 'call-heading' }, card.callTitle, card.callSub)),
        el('div', { class: 'call-actions' }, card.answer, card.decline, card.hangup),
        card.spoken,
        card.dialed,
        card.keypad));

    card.root = el('article', { class: 'card', testid: 'person-' + key },
      el('div', { class: 'device-top' },
        card.avatar,
        el('div', { class: 'owner' }, el('div', { class: 'owner-line' }, card.name, card.role), card.contact)),
      el('div', { class: 'tg-head' },
        el('div', { class: 'tg-avatar' }, icon('bot')),
        el('div', null, el('div', { class: 'tg-title', text: 'Protectogram' }), el('div', { class: 'tg-sub', text: 'бот' }))),
      card.chat,
      card.keyboard,
      composer,
      card.phone);
    return card;
  }

  function sendText(card) {
    const text = card.input.value;
    if (!text.trim()) {
      card.input.focus();
      return;
    }
    card.input.value = '';
    act('Сообщение', personPath(card.key, 'text'), { text }, card.send).then((ok) => {
      if (!ok && card.input.value === '') card.input.value = text; // give the text back on failure
    });
  }

  function callAction(card, what, label, button) {
    if (!card.callId) return;
    // act re-enables the button; the phone's own rendering then decides what is enabled.
    act(label, callPath(card.callId, what), {}, button).then(() => renderPhone(card, card.person, true));
  }

  function pressDigit(card, digit, button) {
    const id = card.callId;
    if (!id) return;
    button.classList.add('flash');
    setTimeout(() => button.classList.remove('flash'), 250);
    act('Клавиша ' + digit, callPath(id, 'digit'), { digit }, button).then((ok) => {
      if (ok) dialed.set(id, (dialed.get(id) || '') + digit);
      renderPhone(card, card.person, true);
    });
  }

  function renderHead(card, p) {
    const sig = JSON.stringify([p.name, p.role, p.phone, p.telegram_id]);
    if (sig === card.sig.head) return;
    card.sig.head = sig;
    card.root.dataset.role = p.role || '';
    card.avatar.textContent = initial(p.name);
    card.avatar.style.background = avatarColor(p.key);
    card.name.textContent = p.name || p.key;
    card.role.textContent = ROLE_LABELS[p.role] || p.role || '';
    card.role.className = 'role-pill role-' + (p.role || 'other');
    const parts = [];
    if (p.phone) parts.push(p.phone);
    if (p.telegram_id) parts.push('tg ' + p.telegram_id);
    card.contact.textContent = parts.join(' · ');
  }

  function renderChat(card, chat) {
    const sig = JSON.stringify(chat);
    if (sig === card.sig.chat) return;
    card.sig.chat = sig;
    const list = card.chat;
    const first = card.chatLen < 0;
    const stick = first || nearBottom(list);
    const prevLen = first ? chat.length : card.chatLen;
    const frag = document.createDocumentFragment();
    if (chat.length === 0) {
      frag.append(el('div', { class: 'chat-empty', text: 'Сообщений пока нет' }));
    }
    chat.forEach((m, i) => {
      const from = m.from === 'user' ? 'user' : 'bot';
      const msg = el('div', { class: 'msg from-' + from + (i >= prevLen ? ' fresh' : '') });
      msg.dataset.from = from;
      msg.dataset.messageId = String(m.message_id ?? '');
      const meta = el('span', { class: 'meta' },
        m.edited ? el('span', { class: 'edited', text: 'изменено' }) : null,
        el('time', { text: clock(m.at_ms), title: m.at_ms ? new Date(m.at_ms).toLocaleString('ru-RU') : null }));
      msg.append(el('div', { class: 'bubble' }, el('span', { class: 'text', text: m.text ?? '' }), meta));
      const rows = Array.isArray(m.buttons) ? m.buttons.filter((r) => Array.isArray(r) && r.length) : [];
      if (rows.length) {
        const kb = el('div', { class: 'ikb' });
        for (const row of rows) {
          const line = el('div', { class: 'ikb-row' });
          for (const b of row) line.append(inlineButton(card, m, b));
          kb.append(line);
        }
        msg.append(kb);
      }
      frag.append(msg);
    });
    list.replaceChildren(frag);
    card.chatLen = chat.length;
    if (stick) list.scrollTop = list.scrollHeight;
  }

  function inlineButton(card, m, b) {
    const button = el('button', { class: 'ikb-btn', type: 'button', text: b.text ?? '' });
    if (b.url) {
      button.classList.add('link');
      button.title = b.url;
      button.addEventListener('click', () => window.open(b.url, '_blank', 'noopener'));
    } else if (b.data !== undefined && b.data !== null && b.data !== '') {
      button.dataset.data = b.data;
      button.addEventListener('click', () =>
        act('Кнопка «' + (b.text ?? '') + '»', personPath(card.key, 'button'),
          { message_id: m.message_id, data: b.data }, button));
    } else {
      button.disabled = true;
    }
    return button;
  }

  function renderKeyboard(card, keyboard) {
    const rows = Array.isArray(keyboard) ? keyboard.filter((r) => Array.isArray(r) && r.length) : [];
    const sig = JSON.stringify(rows);
    if (sig === card.sig.keyboard) return;
    card.sig.keyboard = sig;
    const stick = nearBottom(card.chat);
    const frag = document.createDocumentFragment();
    for (const row of rows) {
      const line = el('div', { class: 'reply-row' });
      for (const b of row) {
        const button = el('button', { class: 'reply-btn' + (b.request_contact ? ' contact' : ''), type: 'button', text: b.text ?? '' });
        button.addEventListener('click', () => {
          if (b.request_contact) act('Поделиться номером', personPath(card.key, 'contact'), {}, button);
          else act('Кнопка «' + (b.text ?? '') + '»', personPath(card.key, 'text'), { text: b.text ?? '' }, button);
        });
        line.append(button);
      }
      frag.append(line);
    }
    card.keyboard.replaceChildren(frag);
    card.keyboard.classList.toggle('empty', rows.length === 0);
    if (stick) card.chat.scrollTop = card.chat.scrollHeight; // the chat got shorter or taller
  }

  // The call a phone shows: its newest call that is not ended, else (greyed) the last one.
  function shownCall(calls) {
    if (!Array.isArray(calls) || calls.length === 0) return null;
    for (let i = calls.length - 1; i >= 0; i--) if (calls[i].state !== 'ended') return calls[i];
    return calls[calls.length - 1];
  }

  function renderPhone(card, p, force) {
    const call = shownCall(p.calls);
    const state = call ? (CALL_TITLES[call.state] ? call.state : 'ended') : 'idle';
    const id = call ? String(call.id) : '';
    if (state === 'answered' && !answeredSince.has(id)) answeredSince.set(id, Date.now());

    // The running time of a conversation changes every poll; the rest only when the call does.
    if (state === 'answered') card.callSub.textContent = duration(Date.now() - answeredSince.get(id));

    const mode = p.phone_mode || '';
    if (mode && !Array.from(card.mode.options).some((o) => o.value === mode)) {
      card.mode.append(el('option', { value: mode, text: mode }));
    }
    if (document.activeElement !== card.mode && !card.modePending && card.mode.value !== mode) card.mode.value = mode;

    const sig = JSON.stringify([call, mode, p.calls ? p.calls.length : 0]);
    if (sig === card.sig.phone && !force) return;
    card.sig.phone = sig;

    card.callId = id;
    card.callStateWord = state;
    card.phone.className = 'phone state-' + state;
    card.phone.dataset.callId = id;
    card.root.classList.toggle('is-ringing', state === 'ringing');
    card.callState.textContent = state;
    card.callTitle.textContent = CALL_TITLES[state];

    if (state === 'idle') {
      card.callSub.textContent = mode === 'console' || !mode ? 'звонки принимаете вы, здесь' : 'телефон сам: ' + modeLabel(mode).toLowerCase();
    } else if (state === 'ringing') {
      card.callSub.textContent = 'Protectogram · ' + clock(call.placed_at_ms, true);
    } else if (state === 'ended') {
      const cause = call.hangup_cause || '';
      const label = CAUSE_LABELS[cause.toLowerCase()];
      card.callSub.textContent = cause ? (label ? label + ' (' + cause + ')' : cause) : 'в ' + clock(call.placed_at_ms, true);
    }

    const spoken = Array.isArray(call && call.spoken) ? call.spoken : [];
    const stick = nearBottom(card.spoken);
    card.spoken.replaceChildren(...spoken.map((line) =>
      el('div', { class: 'spoken-line' }, icon('speaker'), el('span', { text: line }))));
    card.spoken.classList.toggle('empty', spoken.length === 0);
    if (stick) card.spoken.scrollTop = card.spoken.scrollHeight;

    const digits = id ? dialed.get(id) || '' : '';
    const gathering = state === 'answered' && !!call.gathering;
    card.dialed.textContent = gathering ? (digits ? 'Набрано: ' + digits : 'Ждём цифру — нажмите клавишу')
      : digits ? 'Набрано: ' + digits : '';
    card.dialed.classList.toggle('waiting', gathering);

    card.answer.disabled = state !== 'ringing';
    card.decline.disabled = state !== 'ringing';
    card.hangup.disabled = state !== 'answered';
    card.answer.hidden = state === 'answered';
    card.decline.hidden = state === 'answered';
    card.hangup.hidden = state !== 'answered';
    card.keypad.classList.toggle('gathering', gathering);
    for (const k of card.keys) k.disabled = !gathering;
  }

  function modeLabel(mode) {
    const found = PHONE_MODES.find(([v]) => v === mode);
    return found ? found[1] : mode;
  }

  function renderPeople(people) {
    const list = Array.isArray(people) ? people.slice() : [];
    // The traveler(s) first, the rest in the simulator's order (the guardians' cascade order).
    list.sort((a, b) => (a.role === 'traveler' ? 0 : 1) - (b.role === 'traveler' ? 0 : 1));
    const seen = new Set();
    for (const p of list) {
      if (!p || !p.key) continue;
      seen.add(p.key);
      let card = cards.get(p.key);
      if (!card) {
        card = createCard(p);
        cards.set(p.key, card);
        peopleRoot.append(card.root); // attached before the first render, so that scrolling to the bottom works
      }
      card.person = p;
      renderHead(card, p);
      renderKeyboard(card, p.keyboard);
      renderChat(card, Array.isArray(p.chat) ? p.chat : []);
      renderPhone(card, p, false);
    }
    for (const [key, card] of cards) {
      if (!seen.has(key)) {
        card.root.remove();
        cards.delete(key);
      }
    }
    // Put the cards in order, moving a node only when it is out of place (a move would drop input focus).
    let i = 0;
    for (const p of list) {
      const card = cards.get(p.key);
      if (!card) continue;
      if (peopleRoot.children[i] !== card.root) peopleRoot.insertBefore(card.root, peopleRoot.children[i] || null);
      i++;
    }
    while (peopleRoot.children.length > i) {
      const extra = peopleRoot.children[i];
      if (extra.classList.contains('people-empty')) {
        if (list.length) extra.remove();
        else break;
      } else {
        extra.remove();
      }
    }
    if (!list.length && !peopleRoot.querySelector('.people-empty')) {
      peopleRoot.append(el('div', { class: 'people-empty', text: 'Участников пока нет — демо ещё готовится.' }));
    }
  }

  // ---- the incident panel ----------------------------------------------------------------------------

  const statusBadge = document.querySelector('[data-testid="incident-status"]');
  const incidentMeta = document.getElementById('incident-meta');
  const picker = document.getElementById('incident-pick');
  const timeline = document.getElementById('timeline');
  let picked = 'latest';
  let timelineSig = null;
  let pickerSig = null;

  picker.addEventListener('change', () => {
    picked = picker.value;
    timelineSig = null;
    if (lastState) renderIncidents(lastState.incidents);
  });

  function kindIcon(kind) {
    const k = String(kind || '').toLowerCase();
    if (k.includes('ack')) return ['✓', 'ok'];
    if (k.includes('cancel')) return ['✕', 'muted'];
    if (k.includes('escalat') || k.includes('exhaust')) return ['!', 'warn'];
    if (k.includes('panic') || k.includes('start') || k.includes('open') || k.includes('raise')) return ['!', 'alarm'];
    if (k.includes('remind')) return ['↻', 'info'];
    if (k.includes('call') || k.includes('dial') || k.includes('dtmf') || k.includes('digit')) return ['☎', 'call'];
    if (k.includes('alert') || k.includes('message') || k.includes('telegram') || k.includes('notif') || k.includes('sent')) return ['✉', 'info'];
    return ['•', 'muted'];
  }

  function renderIncidents(incidents) {
    const list = Array.isArray(incidents) ? incidents : [];
    const newest = list[0] || null;
    const word = newest ? String(newest.status || 'unknown') : 'none';
    if (statusBadge.textContent !== word) statusBadge.textContent = word;
    statusBadge.className = 'badge status-' + word;
    statusBadge.dataset.incidentId = newest ? String(newest.id) : '';
    statusBadge.title = INCIDENT_LABELS[word] || word;

    const pSig = JSON.stringify(list.map((x) => [x.id, x.status, x.traveler]));
    if (pSig !== pickerSig) {
      pickerSig = pSig;
      const options = [el('option', { value: 'latest', text: newest ? 'Последний (#' + newest.id + ')' : 'Последний' })];
      for (const x of list) {
        options.push(el('option', { value: String(x.id), text: '#' + x.id + ' · ' + (x.traveler || '') + ' · ' + x.status + ' · ' + clock(x.started_at_ms, false) }));
      }
      picker.replaceChildren(...options);
      if (picked !== 'latest' && !list.some((x) => String(x.id) === picked)) picked = 'latest';
      picker.value = picked;
    }
    picker.disabled = list.length === 0;

    const shown = picked === 'latest' ? newest : list.find((x) => String(x.id) === picked) || newest;
    const sig = JSON.stringify(shown);
    if (sig === timelineSig) return;
    timelineSig = sig;

    if (!shown) {
      incidentMeta.replaceChildren(el('span', { class: 'meta-muted', text: 'Тревог пока не было. Нажмите «Тревога» в чате путешественника.' }));
      timeline.replaceChildren();
      return;
    }
    const st = String(shown.status || '');
    incidentMeta.replaceChildren(
      el('div', { class: 'meta-line' },
        el('strong', { text: '#' + shown.id }),
        el('span', { text: ' · ' + (shown.traveler || '') }),
        shown !== newest ? el('span', { class: 'badge small status-' + st, text: st }) : null),
      el('div', { class: 'meta-muted', text: (INCIDENT_LABELS[st] || st) + ' · начат в ' + clock(shown.started_at_ms, true) }));

    const stick = nearBottom(timeline);
    const entries = Array.isArray(shown.timeline) ? shown.timeline : [];
    timeline.replaceChildren(...entries.map((e) => {
      const [glyph, tone] = kindIcon(e.kind);
      return el('li', { class: 'entry tone-' + tone, 'data-kind': e.kind || '' },
        el('span', { class: 'entry-dot', text: glyph }),
        el('div', { class: 'entry-body' },
          el('div', { class: 'entry-head' },
            el('time', { text: clock(e.at_ms, true) }),
            el('span', { class: 'entry-kind', text: e.kind || '' })),
          el('div', { class: 'entry-text', text: e.text || '' })));
    }));
    if (!entries.length) timeline.append(el('li', { class: 'timeline-empty', text: 'Событий пока нет' }));
    if (stick) timeline.scrollTop = timeline.scrollHeight;
  }

  // ---- status and polling ----------------------------------------------------------------------------

  const statusEl = document.querySelector('[data-testid="console-status"]');
  let lastState = null;

  function renderStatus(ready, text, conn) {
    if (statusEl.textContent !== text) statusEl.textContent = text;
    statusEl.dataset.ready = ready ? 'true' : 'false';
    document.body.dataset.conn = conn; // ok | seeding | down
  }

  function render(state) {
    lastState = state;
    const ready = state.ready === true;
    renderStatus(ready, String(state.status || (ready ? 'ready' : 'seeding')), ready ? 'ok' : 'seeding');
    renderPeople(state.people);
    renderIncidents(state.incidents);
  }

  let timer = null;
  let inFlight = false;
  let again = false;
  let failures = 0;

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(poll, ms);
  }

  function pollSoon() {
    if (inFlight) again = true;
    else schedule(0);
  }

  async function poll() {
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    try {
      const res = await fetch('api/state', { cache: 'no-store', headers: { Accept: 'application/json' } });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const state = await res.json();
      failures = 0;
      try {
        render(state);
      } catch (err) {
        console.error('render failed', err);
        toast('Ошибка отображения: ' + err.message);
      }
    } catch (err) {
      failures++;
      renderStatus(false, 'нет связи с симулятором (' + (err && err.message ? err.message : err) + ')', 'down');
      if (failures === 3) toast('Симулятор не отвечает: ' + (err && err.message ? err.message : err));
    } finally {
      inFlight = false;
      schedule(again ? 0 : POLL_MS);
      again = false;
    }
  }

  poll();
})();
