'use strict';
// `npm start`: the first thing a new user runs. For now it shows the message layer at work;
// it becomes a real call through the embedded engine when that lands.
require('./parse-message.js');
