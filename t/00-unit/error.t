use strict;
use warnings;
use Test2::V0;

use Future::IO::Redis::Error;

my $BASE = 'Future::IO::Redis::Error';

subtest 'base class: construction and stringification' => sub {
    my $e = $BASE->new( message => 'something broke', extra => 42 );
    isa_ok $e, $BASE;
    is $e->message,     'something broke', 'message';
    is "$e",            'something broke', 'stringifies to the message';
    is $e->{extra},     42,                'every field is kept as a hash key';
    is $e->category,    'error',           'category';
    is $BASE->category, 'error',           'category as a class method';

    is $BASE->new('positional')->message, 'positional', 'single argument is the message';

    ok $BASE->new( message => '0' ), 'true in boolean context even for "0"';
    ok $BASE->new( message => '' ),  'true in boolean context even for ""';
    is $BASE->new->message, 'Unknown error', 'default message';

    ok $e eq 'something broke', 'eq compares the message';
    like "prefix: $e", qr/prefix: something broke/, 'interpolates';
};

subtest 'throw' => sub {
    my $e = dies { $BASE->throw( message => 'class throw', foo => 'bar' ) };
    isa_ok $e, $BASE;
    is $e->message, 'class throw', 'class method builds the object';
    is $e->{foo},   'bar',         'with its fields';

    my $obj = Future::IO::Redis::Error::Timeout->new( message => 'instance throw' );
    my $got = dies { $obj->throw };
    ref_is $got, $obj, 'instance method dies with the object itself';

    my $sub = dies { Future::IO::Redis::Error::Protocol->throw( message => 'p' ) };
    isa_ok $sub, 'Future::IO::Redis::Error::Protocol';
    unlike "$sub", qr/ at .* line \d+/, 'no file/line appended to the message';
};

subtest 'hierarchy and categories' => sub {
    my %category = (
        Connection   => 'connection',
        Timeout      => 'timeout',
        Disconnected => 'disconnected',
        Protocol     => 'protocol',
        Redis        => 'redis',
    );
    for my $name ( sort keys %category ) {
        my $class = "${BASE}::$name";
        my $e     = $class->new( message => "a $name error" );
        isa_ok $e, [ $class, $BASE ], "$name isa";
        is $e->category,     $category{$name}, "$name category";
        is $class->category, $category{$name}, "$name category as class method";
        is "$e",             "a $name error",  "$name stringifies";
        ok $class->VERSION, "$name has a VERSION";
    }
    ok $BASE->VERSION, 'base has a VERSION';
};

subtest 'subclass accessors' => sub {
    my $c = Future::IO::Redis::Error::Connection->new(
        message => 'refused',
        host    => 'localhost',
        port    => 6379,
        reason  => 'refused',
    );
    is [ $c->host, $c->port, $c->path, $c->reason ], [ 'localhost', 6379, undef, 'refused' ],
        'Connection: host port path reason';
    is( Future::IO::Redis::Error::Connection->new( message => 'x', path => '/tmp/r.sock' )->path,
        '/tmp/r.sock', 'Connection: path' );

    my $t = Future::IO::Redis::Error::Timeout->new(
        message        => 'timed out',
        command        => 'GET',
        timeout        => 5,
        maybe_executed => 'yes',
    );
    is [ $t->command, $t->timeout, $t->maybe_executed ], [ 'GET', 5, 1 ], 'Timeout accessors';
    is( Future::IO::Redis::Error::Timeout->new( message => 'x' )->maybe_executed,
        0, 'maybe_executed defaults to 0' );

    my $d = Future::IO::Redis::Error::Disconnected->new(
        message => 'Not connected',
        reason  => 'fork'
    );
    is $d->reason, 'fork', 'Disconnected reason';
    is( Future::IO::Redis::Error::Disconnected->new( message => 'x' )->reason,
        undef, 'Disconnected reason optional' );

    my $p = Future::IO::Redis::Error::Protocol->new( message => 'bad', data => "\x00junk" );
    is $p->data, "\x00junk", 'Protocol data';
};

my $REDIS = 'Future::IO::Redis::Error::Redis';

subtest 'Redis: from_message derives the type' => sub {
    my %cases = (
        'ERR unknown command \'FOO\''                                       => 'ERR',
        'WRONGTYPE Operation against a key holding the wrong kind of value' => 'WRONGTYPE',
        'NOSCRIPT No matching script. Please use EVAL.'                     => 'NOSCRIPT',
        'MOVED 3999 127.0.0.1:6381'                                         => 'MOVED',
        'ASK 3999 127.0.0.1:6381'                                           => 'ASK',
        'WRONGPASS invalid username-password pair or user is disabled.'     => 'WRONGPASS',
        'NOAUTH Authentication required.'                                   => 'NOAUTH',
        'NOPERM this user has no permissions to run the \'get\' command'    => 'NOPERM',
        'BUSY Redis is busy running a script.'                              => 'BUSY',
        'OOM command not allowed when used memory > \'maxmemory\'.'         => 'OOM',
        'READONLY You can\'t write against a read only replica.'            => 'READONLY',
        'LOADING Redis is loading the dataset in memory'                    => 'LOADING',
        'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to \'no\'.' =>
            'MASTERDOWN',
        'TRYAGAIN Multiple keys request during rehashing of slot'     => 'TRYAGAIN',
        'CLUSTERDOWN The cluster is down'                             => 'CLUSTERDOWN',
        'EXECABORT Transaction discarded because of previous errors.' => 'EXECABORT',
        'CROSSSLOT Keys in request don\'t hash to the same slot'      => 'CROSSSLOT',
        'BUSYGROUP Consumer Group name already exists'                => 'BUSYGROUP',
        'NOGROUP No such key \'s\' or consumer group \'g\''           => 'NOGROUP',
        'MISCONF Redis is configured to save RDB snapshots, but it\'s currently unable' =>
            'MISCONF',
        'NOREPLICAS Not enough good replicas to write.'       => 'NOREPLICAS',
        'UNKILLABLE The busy script was sent a write command' => 'UNKILLABLE',
        'SOME_CODE2 with digits and underscore'               => 'SOME_CODE2',
        'ERR'                                                 => 'ERR',
        'NOSCRIPT'                                            => 'NOSCRIPT',
        '-WRONGTYPE leading dash from the wire'               => 'WRONGTYPE',
        'Error: lower case first word'                        => 'ERR',
        'wrongtype lower case'                                => 'ERR',
        'WRONG-TYPE has a dash'                               => 'ERR',
        'WRONGTYPE: colon attached'                           => 'ERR',
        'A single capital letter'                             => 'ERR',
        ''                                                    => 'ERR',
    );
    for my $msg ( sort keys %cases ) {
        my $e = $REDIS->from_message($msg);
        isa_ok $e, [ $REDIS, $BASE ];
        is $e->type,    $cases{$msg}, "type of '$msg'";
        is $e->message, $msg,         'message kept verbatim';
        is $e->{type},  $cases{$msg}, 'type stored as a key';
    }
    is $REDIS->from_message(undef)->type, 'ERR', 'undef message gives ERR';
};

subtest 'Redis: new with and without type' => sub {
    my $e = $REDIS->new( message => 'anything at all', type => 'NOSCRIPT' );
    is $e->type, 'NOSCRIPT', 'explicit type wins';
    ok $e->is_noscript, 'predicate follows the explicit type';

    my $lazy = $REDIS->new( message => 'LOADING Redis is loading' );
    is $lazy->type, 'LOADING', 'type derived lazily when missing';
    ok $lazy->is_loading, 'predicate on lazily derived type';
};

my %PREDICATE = (
    is_wrongtype => ['WRONGTYPE'],
    is_oom       => ['OOM'],
    is_busy      => ['BUSY'],
    is_noscript  => ['NOSCRIPT'],
    is_readonly  => ['READONLY'],
    is_loading   => ['LOADING'],
    is_noauth    => [ 'NOAUTH', 'WRONGPASS' ],
    is_noperm    => ['NOPERM'],
    is_moved     => ['MOVED'],
    is_ask       => ['ASK'],
);
my @TYPES = qw(
    ERR WRONGTYPE OOM BUSY BUSYGROUP BUSYKEY NOSCRIPT READONLY LOADING NOAUTH WRONGPASS NOPERM
    MOVED ASK TRYAGAIN MASTERDOWN CLUSTERDOWN EXECABORT CROSSSLOT MISCONF NOREPLICAS NOGROUP
);

subtest 'Redis: predicates' => sub {
    for my $pred ( sort keys %PREDICATE ) {
        my %yes = map { $_ => 1 } @{ $PREDICATE{$pred} };
        for my $type (@TYPES) {
            my $e = $REDIS->from_message("$type some text");
            is $e->$pred, ( $yes{$type} ? 1 : 0 ), "$type: $pred";
        }
    }
};

my %TRANSIENT = map { $_ => 1 }
    qw(LOADING BUSY TRYAGAIN MASTERDOWN CLUSTERDOWN READONLY MOVED ASK OOM MISCONF NOREPLICAS);

subtest 'Redis: is_fatal and is_transient' => sub {
    for my $type ( @TYPES, 'UNKNOWNCODE' ) {
        my $e = $REDIS->from_message("$type some text");
        my $t = $TRANSIENT{$type} ? 1 : 0;
        is $e->is_transient, $t,     "$type is_transient";
        is $e->is_fatal,     1 - $t, "$type is_fatal";
    }
    for my $fatal (qw(WRONGTYPE NOSCRIPT NOAUTH WRONGPASS NOPERM ERR EXECABORT)) {
        ok $REDIS->from_message("$fatal x")->is_fatal, "$fatal is fatal";
    }
    ok $REDIS->from_message('lower case message')->is_fatal, 'untyped (ERR) message is fatal';
};

subtest 'Redis: redirect' => sub {
    is $REDIS->from_message('MOVED 3999 127.0.0.1:6381')->redirect,
        { slot => 3999, host => '127.0.0.1', port => 6381 }, 'MOVED';
    is $REDIS->from_message('ASK 12 redis-node-3:7000')->redirect,
        { slot => 12, host => 'redis-node-3', port => 7000 }, 'ASK';
    is $REDIS->from_message('MOVED 1 ::1:6379')->redirect,
        { slot => 1, host => '::1', port => 6379 }, 'IPv6 host';
    is $REDIS->from_message('MOVED 1 :6379')->redirect,
        { slot => 1, host => '', port => 6379 }, 'unknown endpoint';
    is $REDIS->from_message('ERR nope')->redirect,      undef, 'not a redirection';
    is $REDIS->from_message('MOVED garbage')->redirect, undef, 'malformed MOVED';
};

subtest 'Redis: a bare blessed hash works with every method' => sub {
    my $e = bless { message => 'WRONGPASS invalid username-password pair', type => 'WRONGPASS' },
        $REDIS;
    is "$e",         'WRONGPASS invalid username-password pair', 'stringifies';
    is $e->message,  'WRONGPASS invalid username-password pair', 'message';
    is $e->type,     'WRONGPASS',                                'type';
    is $e->category, 'redis',                                    'category';
    ok $e->is_noauth,     'is_noauth';
    ok $e->is_fatal,      'is_fatal';
    ok !$e->is_transient, 'not transient';
    is $e->redirect, undef, 'redirect';
    ok $e, 'boolean true';
    isa_ok $e, $BASE;

    for my $pred ( sort keys %PREDICATE ) {
        is $e->$pred, ( $pred eq 'is_noauth' ? 1 : 0 ), "bare object: $pred";
    }
    my $got = dies { $e->throw };
    ref_is $got, $e, 'throw';

    my $untyped = bless { message => 'BUSY Redis is busy' }, $REDIS;
    is $untyped->type, 'BUSY', 'bare object without type derives it';
    ok $untyped->is_busy && $untyped->is_transient, 'and its predicates work';

    my $moved = bless { message => 'MOVED 7 10.0.0.1:7001', type => 'MOVED' }, $REDIS;
    is $moved->redirect, { slot => 7, host => '10.0.0.1', port => 7001 }, 'bare MOVED redirect';
};

subtest 'Future fail convention' => sub {
    my $e    = $REDIS->from_message('NOSCRIPT No matching script');
    my @fail = ( $e, $e->category );
    is $fail[1], 'redis', 'fail( $error, $error->category )';
};

done_testing;
