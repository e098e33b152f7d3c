import test from 'ava';
import { OptionError } from '../../source/errors';
import { DEFAULT_OPTIONS, resolveOptions } from '../../source/options';
import { checkCacheOption } from '../../hooks/query-options';

test('options: defaults fill every option, stampede protection on', (t) => {
  const resolved = resolveOptions(undefined);
  t.is(resolved.ttl, DEFAULT_OPTIONS.ttl);
  t.is(resolved.softTtl, DEFAULT_OPTIONS.softTtl);
  t.is(resolved.stampedeProtection, DEFAULT_OPTIONS.stampedeProtection);
  t.true(resolved.stampedeProtection);
  t.is(resolved.namespace, 'oc');
});

test('options: an unknown or invalid option fails with an OptionError naming it', (t) => {
  const cases: [unknown, string][] = [
    [{ ttl: -1 }, 'ttl'],
    [{ softTtl: 10, ttl: 5 }, 'softTtl'],
    [{ namespace: 'has space' }, 'namespace'],
    [{ stampedeProtection: 'yes' }, 'stampedeProtection'],
    [{ refreshMode: 'sometimes' }, 'refreshMode'],
    [{ tll: 5 }, 'tll'],
    [{ store: {} }, 'store'],
    [{ models: { Article: { computed: 'touchedAt' } } }, 'models\\.Article\\.computed'],
    [{ models: { Article: { computed: [''] } } }, 'models\\.Article\\.computed'],
  ];
  for (const [input, option] of cases) {
    const error = t.throws(() => resolveOptions(input as never), { instanceOf: OptionError });
    t.regex(error?.message ?? '', new RegExp(option), `${JSON.stringify(input)} names ${option}`);
  }
});

test('query options: true, false and valid objects pass; a misspelt or bad key fails naming the option and the model', (t) => {
  const models = { Author: {} };
  checkCacheOption('Article', true, models);
  checkCacheOption('Article', { ttl: 60, softTtl: 30, refresh: true, key: 'home', dependsOn: ['Author'] }, models);
  const bad: [unknown, string][] = [
    [{ tl: 5 }, 'tl'],
    [{ ttl: 0 }, 'cache.ttl'],
    [{ ttl: 10, softTtl: 20 }, 'cache.softTtl'],
    [{ refresh: 'yes' }, 'cache.refresh'],
    [{ key: '' }, 'cache.key'],
    [{ dependsOn: ['Nope'] }, 'cache.dependsOn'],
    ['always', 'cache'],
  ];
  for (const [value, option] of bad) {
    const error = t.throws(() => checkCacheOption('Article', value, models), { instanceOf: OptionError });
    t.regex(error?.message ?? '', new RegExp(option.replace('.', '\\.')));
    t.regex(error?.message ?? '', /Article/);
  }
});
