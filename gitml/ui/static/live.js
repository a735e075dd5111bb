// Live updates: one EventSource for the page; pages subscribe to event names
// ("runs", "run:<id>", "models") and unsubscribe when they are left.

let source = null;
const handlers = new Map(); // event name -> Set of functions
const attached = new Set();

function connect() {
  if (source || typeof EventSource === "undefined") return;
  source = new EventSource("/api/events");
  source.onerror = () => document.documentElement.classList.add("offline");
  source.onopen = () => document.documentElement.classList.remove("offline");
  for (const name of handlers.keys()) attach(name);
}

function attach(name) {
  if (!source || attached.has(name)) return;
  attached.add(name);
  source.addEventListener(name, (event) => {
    let data = null;
    try {
      data = event.data ? JSON.parse(event.data) : null;
    } catch {
      data = event.data;
    }
    for (const fn of handlers.get(name) || []) fn(data);
  });
}

/** Call fn(data) on each event `name`; returns the function that stops it. */
export function subscribe(name, fn) {
  if (!handlers.has(name)) handlers.set(name, new Set());
  handlers.get(name).add(fn);
  connect();
  attach(name);
  return () => handlers.get(name)?.delete(fn);
}
