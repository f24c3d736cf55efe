// usage: node extract.js RENOVATE_DIR CORPUS_DIR FILE...
const path = require('path');
const fs = require('fs');
const [renovateDir, corpus, ...files] = process.argv.slice(2);
process.env.LOG_LEVEL = 'fatal';
const mgr = (m) => require(path.join(renovateDir, 'node_modules/renovate/dist/modules/manager', m, 'index.js'));
const managers = ['kubernetes', 'helm-values', 'kustomize', 'docker-compose', 'argocd', 'flux'];
(async () => {
  const out = {};
  for (const file of files) {
    const content = fs.readFileSync(path.join(corpus, file), 'utf8');
    const per = {};
    for (const m of managers) {
      let res = null;
      try { res = await mgr(m).extractPackageFile(content, file, {}); } catch (e) { res = null; }
      per[m] = ((res && res.deps) || []).map(d => ({datasource: d.datasource, depName: d.depName, packageName: d.packageName, currentValue: d.currentValue, currentDigest: d.currentDigest, depType: d.depType, skipReason: d.skipReason, replaceString: d.replaceString}));
    }
    out[file] = per;
  }
  process.stdout.write(JSON.stringify(out));
})();
