// load.js - what 20 open pages and a Prometheus scraping every 100 ms ask
// of dosips: each client holds the live feed (/api/events) and polls
// /api/state every second, as web/app.js does; one scraper fetches
// /metrics every 100 ms. Runs until SIGTERM, then prints one line:
//   LOAD clients=N events=E states=S state_errors=SE scrapes=M scrape_errors=ME scrape_max_ms=T
//   node load.js BASE_URL [CLIENTS]
'use strict';
const http = require('http');

const base = process.argv[2];
const nclients = Number(process.argv[3] || 20);
const agent = new http.Agent({ keepAlive: true, maxSockets: nclients * 2 + 2 });
const st = { events: 0, states: 0, stateErrors: 0, scrapes: 0, scrapeErrors: 0, scrapeMax: 0 };
const feeds = [];

function get(path, done) {
  const t0 = process.hrtime.bigint();
  const req = http.get(base + path, { agent, timeout: 5000 }, (res) => {
    res.resume();
    res.on('end', () => done(res.statusCode === 200, Number(process.hrtime.bigint() - t0) / 1e6));
  });
  req.on('error', () => done(false, 0));
  req.on('timeout', () => req.destroy());
}

function feed() {
  const req = http.get(base + 'api/events', (res) => {
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        if (buf.slice(0, i).includes('\ndata: ') || buf.startsWith('data: ')) st.events++;
        buf = buf.slice(i + 2);
      }
    });
  });
  req.on('error', () => {});
  feeds.push(req);
}

for (let c = 0; c < nclients; c++) {
  feed();
  setTimeout(() => setInterval(() => get('api/state', (ok) => {
    if (ok) st.states++; else st.stateErrors++;
  }), 1000), c * 50);
}
setInterval(() => get('metrics', (ok, ms) => {
  if (ok) st.scrapes++; else st.scrapeErrors++;
  st.scrapeMax = Math.max(st.scrapeMax, ms);
}), 100);

process.on('SIGTERM', () => {
  console.log(`LOAD clients=${nclients} events=${st.events} states=${st.states} ` +
    `state_errors=${st.stateErrors} scrapes=${st.scrapes} scrape_errors=${st.scrapeErrors} ` +
    `scrape_max_ms=${st.scrapeMax.toFixed(1)}`);
  for (const f of feeds) f.destroy();
  process.exit(0);
});
