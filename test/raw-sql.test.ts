import test from 'ava';
import { tablesWritten } from '../hooks/raw-sql';

const tables = ['articles', 'authors', 'tags', 'article_tags'];

const cases: [string, 'all' | string[]][] = [
  ['SELECT * FROM articles', []],
  ['  select id from `articles` where id = 1 for update', []],
  ['SHOW TABLES', []],
  ['START TRANSACTION', []],
  ["UPDATE articles SET title = 'x' WHERE id = 1", ['articles']],
  ['update `authors` set name = 1', ['authors']],
  ['INSERT INTO article_tags (article_id, tag_id) VALUES (1, 2)', ['article_tags']],
  ['DELETE a FROM articles a JOIN authors b ON a.author_id = b.id WHERE b.id = 3', ['articles', 'authors']],
  ['REPLACE INTO tags VALUES (1)', ['tags']],
  ['TRUNCATE TABLE tags', ['tags']],
  ['ALTER TABLE articles ADD COLUMN x INT', ['articles']],
  ["UPDATE other SET note = 'articles and authors'", []],
  ['UPDATE other SET note = 1 -- articles', []],
  ["UPDATE other SET note = 'it''s' /* tags */", []],
  ["UPDATE other SET note = 1 -- don't\n, x = (SELECT 1 FROM tags)", ['tags']],
  ['UPDATE mydb.articles SET views = views + 1', ['articles']],
  ['WITH x AS (SELECT 1) UPDATE articles SET views = 0', ['articles']],
  ['SELECT 1; DELETE FROM authors', ['authors']],
  ['CALL archive_everything()', 'all'],
];

for (const [sql, expected] of cases) {
  test(`raw statement: ${sql.replace(/\n/g, ' ')}`, (t) => {
    const written = tablesWritten(sql, tables);
    t.deepEqual(written === 'all' ? written : [...written].sort(), expected === 'all' ? expected : [...expected].sort());
  });
}
